"""GOPs sent in parts (`Chunker(part_s=...)`, `GopChunk.part`): the parts carry the same packets
as the whole GOPs, decode to the same frames, give each frame out with its own part when the
stream has no B-frames, and a decoder that takes over mid-GOP (`resume`) goes on exactly as the
one that decoded the parts before."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.video_clips import encode_clip
from vstream.decode.ffmpeg import FfmpegDecoder
from vstream.errors import DecodeError
from vstream.ingest.chunker import Chunker
from vstream.weights import test_video_path

SIZE = (48, 27)


@pytest.fixture(scope="module")
def camera_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of the test video as a camera sends it: a keyframe every 2 s, no B-frames."""
    return encode_clip(tmp_path_factory.mktemp("parts") / "cam.mp4", range(300), gop=50, bframes=0)


@pytest.fixture(scope="module")
def music() -> Path:
    """The first ~1100 frames of the test video's own GOPs (B-frames, GOPs of 1-8 s)."""
    return Path(test_video_path())


def _decode(chunks, decoder: FfmpegDecoder) -> list:
    out = [decoder.decode_sampled(c) for c in chunks]
    held = decoder.drain()
    return out + ([held] if held is not None else [])


def _joined(batches, field: str) -> np.ndarray:
    return np.concatenate([getattr(b, field) for b in batches if b is not None])


@pytest.mark.parametrize("clip", ["camera_like", "music"])
def test_parts_carry_the_gops_packets_in_order(clip, request) -> None:
    path = str(request.getfixturevalue(clip))
    whole = list(Chunker(path, "s"))[:20]
    parts = [c for c in Chunker(path, "s", part_s=0.2) if c.first_frame < whole[-1].first_frame]
    assert [p.data for c in parts for p in c.packets] == \
        [p.data for c in whole[:-1] for p in c.packets]
    assert [c.seq for c in parts] == list(range(len(parts)))
    assert all(b.first_frame == a.first_frame + a.frame_count for a, b in zip(parts, parts[1:]))
    # part 0 of each GOP holds its keyframe first; every part but a GOP's last spans >= 0.2 s
    starts = [c for c in parts if c.part == 0]
    assert [c.first_frame for c in starts] == [c.first_frame for c in whole[:-1]]
    assert all(c.packets[0].keyframe for c in starts)
    assert not any(p.keyframe for c in parts if c.continues for p in c.packets)
    for c, after in zip(parts, parts[1:]):
        if after.continues:
            assert c.frame_count / float(c.frame_rate) >= 0.2 - 1e-9
    assert len(parts) > 3 * len(whole[:-1])


@pytest.mark.parametrize("clip", ["camera_like", "music"])
def test_parts_decode_to_the_frames_of_whole_gops(clip, request) -> None:
    path = str(request.getfixturevalue(clip))
    whole = list(Chunker(path, "s"))[:12]
    parts = [c for c in Chunker(path, "s", part_s=0.2) if c.first_frame < whole[-1].first_frame]
    sampled = dict(sample_size=lambda w, h: (w // 2, h // 2), sample_every=5)
    a = _decode(whole[:-1], FfmpegDecoder(SIZE, **sampled))
    b = _decode(parts, FfmpegDecoder(SIZE, **sampled))
    for field in ("frame_index", "pts", "images"):
        assert np.array_equal(_joined([x for x, _ in a], field), _joined([x for x, _ in b], field))
        assert np.array_equal(_joined([s for _, s in a], field), _joined([s for _, s in b], field))
    assert len(_joined([x for x, _ in b], "frame_index")) == sum(c.frame_count for c in parts)


def test_without_b_frames_each_part_gives_its_own_frames(camera_like: Path) -> None:
    decoder = FfmpegDecoder(SIZE)
    for chunk in list(Chunker(str(camera_like), "s", part_s=0.2))[:40]:
        batch = decoder.decode(chunk)
        assert batch.frame_index.tolist() == list(range(chunk.first_frame,
                                                        chunk.first_frame + chunk.frame_count))


@pytest.mark.parametrize("clip", ["camera_like", "music"])
def test_a_decoder_resumed_mid_gop_goes_on_as_the_first(clip, request) -> None:
    parts = list(Chunker(str(request.getfixturevalue(clip)), "s", part_s=0.2))[:45]
    first = FfmpegDecoder(SIZE)
    out = [first.decode(c) for c in parts]
    inside = [k for k in range(len(parts) - 1) if parts[k + 1].continues]
    for k in (inside[0], inside[len(inside) // 2], inside[-1]):  # taken over after part k
        start = max(i for i in range(k + 1) if parts[i].part == 0)
        done = dataclasses.replace(parts[start], seq=parts[k].seq,
                                   packets=sum((c.packets for c in parts[start : k + 1]), ()))
        through = max(int(b.frame_index.max()) for b in out[: k + 1] if len(b))
        second = FfmpegDecoder(SIZE)
        second.resume(done, through)
        rest = [second.decode(c) for c in parts[k + 1 :]]
        for field in ("frame_index", "images"):
            assert np.array_equal(_joined(rest, field), _joined(out[k + 1 :], field))


def test_a_part_whose_gop_was_not_decoded_is_refused(camera_like: Path) -> None:
    parts = list(Chunker(str(camera_like), "s", part_s=0.2))
    decoder = FfmpegDecoder(SIZE)
    with pytest.raises(DecodeError, match="continues the GOP of chunk 0"):
        decoder.decode(parts[1])
    decoder.decode(parts[0])
    with pytest.raises(DecodeError, match="continues the GOP of chunk 1"):
        decoder.decode(parts[2])  # part 1 never came
    assert len(decoder.decode(next(c for c in parts if c.part == 0 and c.seq > 0))) > 0


def test_part_seconds_must_be_positive(music: Path) -> None:
    with pytest.raises(ValueError, match="part_s must be > 0"):
        Chunker(str(music), "s", part_s=0)
