"""Record OpenCV dnn's outputs of the SSDLite people graph: the reference `ssdlite_reference.json`.

Run once (see README.md beside this file); the tests never run it. It needs OpenCV's own SSD
text-graph tool, `tf_text_graph_ssd.py` and `tf_text_graph_common.py` from OpenCV 4.x
`samples/dnn/` (not shipped by opencv-python nor by Debian's opencv-doc), in --opencv-samples.

The network input is the frame resized to 300x300 by TensorFlow's legacy bilinear rule (output
pixel i reads input i * in/out), computed here in NumPy float64, so that OpenCV and the torch port
see the same pixels; OpenCV's graph then applies the graph's own x * 2/255 - 1.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys

import av
import cv2
import numpy as np

from vstream.detect.teachers.ssdlite_net import graph_path

DATA = pathlib.Path("/usr/share/doc/opencv-doc/examples/data")
VTEST_FRAMES = tuple(range(0, 800, 40))  # 20 frames of vtest.avi
STILLS = ("basketball1.png", "basketball2.png", "messi5.jpg")
MIN_SCORE = 0.2


def legacy_resize(image: np.ndarray, size: int = 300) -> np.ndarray:
    """(H, W, 3) -> (size, size, 3) float64: TF ResizeBilinear, align_corners=False,
    half_pixel_centers=False."""
    h, w = image.shape[:2]
    img = image.astype(np.float64)
    ys, xs = np.arange(size) * (h / size), np.arange(size) * (w / size)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = img[y0][:, x0] + (img[y0][:, x1] - img[y0][:, x0]) * wx
    bottom = img[y1][:, x0] + (img[y1][:, x1] - img[y1][:, x0]) * wx
    return top + (bottom - top) * wy


def frames() -> dict[str, np.ndarray]:
    """{key: uint8 RGB frame}: vtest.avi frames decoded with PyAV, and the stills."""
    out = {}
    with av.open(str(DATA / "vtest.avi")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in VTEST_FRAMES:
                out[f"vtest.avi#{i}"] = frame.to_ndarray(format="rgb24")
    for name in STILLS:
        out[name] = cv2.cvtColor(cv2.imread(str(DATA / name)), cv2.COLOR_BGR2RGB)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--opencv-samples", required=True, type=pathlib.Path)
    parser.add_argument("--work", default=pathlib.Path("/tmp/ssdlite_reference"), type=pathlib.Path)
    parser.add_argument("--out", default=pathlib.Path(__file__).with_name("ssdlite_reference.json"),
                        type=pathlib.Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    pbtxt = args.work / "ssdlite_person.pbtxt"
    config = pathlib.Path(__file__).with_name("ssdlite_person.config")
    tool = args.opencv_samples / "tf_text_graph_ssd.py"
    subprocess.run([sys.executable, str(tool), "--input", graph_path(), "--config", str(config),
                    "--output", str(pbtxt)], check=True)
    net = cv2.dnn.readNetFromTensorflow(graph_path(), str(pbtxt))
    records = {}
    for key, rgb in frames().items():
        blob = legacy_resize(rgb).astype(np.float32).transpose(2, 0, 1)[None]
        net.setInput(np.ascontiguousarray(blob))
        det = net.forward()[0, 0]  # (100, 7): image, class, score, x1, y1, x2, y2 (normalised)
        det = det[det[:, 2] >= MIN_SCORE]
        det = det[np.argsort(-det[:, 2], kind="stable")]
        records[key] = {"width": rgb.shape[1], "height": rgb.shape[0],
                        "class": det[:, 1].astype(int).tolist(),
                        "score": [round(float(s), 5) for s in det[:, 2]],
                        "xyxy_normalised": [[round(float(v), 5) for v in row] for row in det[:, 3:7]]}
    meta = {"made_by": "tests/data/make_ssdlite_reference.py", "opencv": cv2.__version__,
            "numpy": np.__version__, "min_score": MIN_SCORE, "note": "boxes as OpenCV returns them, "
            "not clipped to the image (TensorFlow clips after NMS)"}
    lines = [f" {json.dumps(key)}: {json.dumps(record)}" for key, record in records.items()]
    args.out.write_text(f'{{"meta": {json.dumps(meta)},\n"frames": {{\n' + ",\n".join(lines) + "\n}}\n")
    boxes = sum(len(r["score"]) for r in records.values())
    print(f"wrote {args.out}: {boxes} boxes in {len(records)} frames")


if __name__ == "__main__":
    main()
