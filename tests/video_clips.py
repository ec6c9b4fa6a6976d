"""Test clips: frames of the real test video re-encoded as H.264, so a test gets exactly the
length and keyframe spacing it needs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av

from vstream.weights import test_video_path


def encode_clip(path: Path, frames: Iterable[int], *, gop: int | None = None,
                faststart: bool = False, size: tuple[int, int] = (160, 90),
                bframes: int | None = None) -> Path:
    """Frames `frames` (indices into the test video, in its order) re-encoded as `size`
    (default 160x90) 25 fps H.264 at `path` (the container from its extension: .mp4, .ts,
    ...); `gop` fixes a keyframe every `gop` frames (default: x264 decides); `faststart` puts an
    MP4's index (moov) before the media data, as web video has it (default: after, where a
    recorder writes it last); `bframes` 0 encodes without B-frames, as IP cameras do (default:
    x264's)."""
    wanted = set(frames)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(test_video_path())) as src, av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        if bframes is not None:
            stream.options = {**stream.options, "bf": str(bframes)}
        for i, frame in enumerate(src.decode(video=0)):
            if i > max(wanted):
                break
            if i in wanted:
                image = frame.to_ndarray(format="rgb24")
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def overwrite_middle(source: Path, target: Path, size: int = 64 * 1024) -> Path:
    """`source` with `size` random bytes over its middle (a damaged disk block or download)."""
    import numpy as np

    blob = bytearray(source.read_bytes())
    start = len(blob) // 2 - size // 2
    blob[start : start + size] = np.random.default_rng(7).integers(0, 256, size, np.uint8).tobytes()
    target.write_bytes(bytes(blob))
    return target
