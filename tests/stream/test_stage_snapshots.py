"""Stream state snapshots: stages restored from `StreamStages.snapshot()` at chunk boundaries
continue exactly as stages that never stopped (same scenes), on real video."""

from __future__ import annotations

import pytest

from vstream.ingest.chunker import Chunker
from vstream.stream.stages import SnapshotError, StreamStages, pack_state
from vstream.weights import test_video_path


def _scenes(chunks, shots: str, restart_after: set[int]) -> tuple[list[tuple], int]:
    """Scenes of `chunks` through StreamStages, replaced by a restored copy after each chunk seq
    in `restart_after`; also the largest snapshot in bytes."""
    rate = float(chunks[0].frame_rate)
    stages = StreamStages("s", rate, shots=shots, model=None, gallery=None)
    out, biggest = [], 0
    for chunk in chunks:
        out += stages.push(chunk).scenes
        if chunk.seq in restart_after:
            data = stages.snapshot()
            biggest = max(biggest, len(data))
            stages = StreamStages.restore(data, rate, shots=shots, model=None, gallery=None)
    out += stages.finish().scenes
    return [(a.scene.index, a.scene.start_frame, a.scene.end_frame, a.scene.start_s,
             a.scene.end_s) for a in out], biggest


@pytest.fixture(scope="module")
def chunks() -> list:
    return list(Chunker(str(test_video_path()), "s"))[:40]  # ~2100 frames, many cuts


@pytest.mark.parametrize("shots", ["fast", "combined"])
def test_restored_stages_cut_the_same_scenes(chunks, shots: str) -> None:
    reference, _ = _scenes(chunks, shots, set())
    assert len(reference) > 10
    # restart after every third chunk: inside scenes, right after cuts, before the fps is known
    restarted, biggest = _scenes(chunks, shots, {0, 1, *range(2, len(chunks), 3)})
    assert restarted == reference
    assert 0 < biggest < 8 * 1024 * 1024


def test_stages_restored_mid_gop_of_a_stream_sent_in_parts_cut_the_same_scenes(chunks) -> None:
    reference, _ = _scenes(chunks, "fast", set())
    end = chunks[-1].first_frame + chunks[-1].frame_count
    parts = [c for c in Chunker(str(test_video_path()), "s", part_s=0.2) if c.first_frame < end]
    # restarts after parts 0, 1, ... of GOPs, and after the GOP's last part; the B-frames the
    # decoder holds at the end come out at the finish
    restarted, _ = _scenes(parts, "fast", {0, 1, 5, *range(9, len(parts), 7)})
    assert restarted == reference


def test_a_snapshot_of_other_stages_or_format_is_refused(chunks) -> None:
    rate = float(chunks[0].frame_rate)
    stages = StreamStages("s", rate, shots="fast", model=None, gallery=None)
    stages.push(chunks[0])
    data = stages.snapshot()
    with pytest.raises(SnapshotError, match="shots-fast"):
        StreamStages.restore(data, rate, shots="neural", model=None, gallery=None)
    with pytest.raises(SnapshotError, match="format 9"):
        StreamStages.restore(data[:4] + b"\x09\x00" + data[6:], rate, shots="fast", model=None,
                             gallery=None)
    with pytest.raises(SnapshotError, match="not a stream state snapshot"):
        StreamStages.restore(b"nonsense", rate, shots="fast", model=None, gallery=None)
    assert pack_state({}) != data
