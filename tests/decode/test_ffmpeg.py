from __future__ import annotations

import av
import numpy as np
import pytest

from vstream.chunk import GopChunk
from vstream.decode.ffmpeg import FfmpegDecoder
from vstream.ingest.chunker import Chunker

from vstream.weights import test_video_path


@pytest.fixture(scope="module")
def reference() -> tuple[list[int], np.ndarray]:
    """pts and 48x27 RGB frames from a plain PyAV decode of the whole test video."""
    with av.open(str(test_video_path())) as c:
        frames = list(c.decode(video=0))
        return [f.pts for f in frames], np.stack(
            [f.to_ndarray(format="rgb24", width=48, height=27) for f in frames]
        )


@pytest.mark.integration  # a whole real video or model run
def test_chunked_decode_gives_every_frame_with_exact_timestamps(reference) -> None:
    ref_pts, ref_images = reference
    decoder = FfmpegDecoder((48, 27), deblock=True, interpolation="BILINEAR")
    pts, index, images = [], [], []
    for chunk in Chunker(str(test_video_path()), "test"):
        batch = decoder.decode(chunk)
        assert batch.time_base == chunk.time_base
        pts += batch.pts.tolist()
        index += batch.frame_index.tolist()
        images.append(batch.images)
    assert pts == ref_pts
    assert index == list(range(len(ref_pts)))
    assert np.array_equal(np.concatenate(images), ref_images)
    # seconds are exact multiples of the frame period at 25 fps
    assert np.allclose(np.array(pts) / 12800, np.arange(len(pts)) / 25)


@pytest.mark.integration  # a whole real video or model run
def test_a_chunk_decodes_alone_from_its_bytes(reference) -> None:
    ref_pts, ref_images = reference
    chunks = list(Chunker(str(test_video_path()), "test"))
    chunk = GopChunk.from_bytes(chunks[57].to_bytes())
    batch = FfmpegDecoder((48, 27), deblock=True, interpolation="BILINEAR").decode(chunk)  # fresh: no state from chunk 56
    lo = chunk.first_frame
    assert batch.frame_index.tolist() == list(range(lo, lo + chunk.frame_count))
    assert batch.pts.tolist() == ref_pts[lo : lo + chunk.frame_count]
    assert np.array_equal(batch.images, ref_images[lo : lo + chunk.frame_count])


def test_decode_size_is_respected() -> None:
    chunk = next(iter(Chunker(str(test_video_path()), "test")))
    batch = FfmpegDecoder((64, 36)).decode(chunk)
    assert batch.images.shape == (chunk.frame_count, 36, 64, 3)
    assert batch.size == (64, 36)


def test_b_frames_keep_presentation_order(tmp_path) -> None:
    """An encode with B-frames: decode order differs from presentation order."""
    path = tmp_path / "bframes.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"bf": "3", "g": "12", "keyint_min": "12", "sc_threshold": "0"}
        for i in range(40):
            img = np.full((48, 64, 3), (i * 6) % 256, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    chunks = list(Chunker(str(path), "b"))
    assert any(p.pts != p.dts for c in chunks for p in c.packets)
    decoder = FfmpegDecoder((64, 48))
    batches = [decoder.decode(c) for c in chunks]
    pts = np.concatenate([b.pts for b in batches])
    assert (np.diff(pts) > 0).all()
    assert np.concatenate([b.frame_index for b in batches]).tolist() == list(range(40))
    means = np.concatenate([b.images.reshape(len(b), -1).mean(1) for b in batches])
    assert (np.diff(means) > 0).sum() >= 38  # brightness rises frame by frame: order is right


@pytest.mark.integration  # a whole real video or model run
def test_analysis_decode_stays_close_to_a_players_frames(reference) -> None:
    """The default (no in-loop deblocking, area downscale) differs by a few levels only."""
    _, ref_images = reference
    decoder = FfmpegDecoder((48, 27))
    images = np.concatenate([decoder.decode(c).images for c in Chunker(str(test_video_path()), "test")])
    diff = np.abs(images.astype(np.int16) - ref_images.astype(np.int16))
    assert 0 < diff.mean() < 3.0
