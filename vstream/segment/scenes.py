"""Scenes: what the boundaries of a shot detector cut a stream into."""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass

from vstream.decode.frames import FrameBatch
from vstream.media import format_timecode
from vstream.segment.detector import Boundary, SettlingShotDetector, ShotDetector
from vstream.segment.max_scene import MaxSceneLengthFilter
from vstream.segment.min_scene import MinSceneLengthFilter

# Frame times are remembered this far back so a late boundary (look-ahead detectors answer up to
# ~100 frames late) can still be turned into an exact time.
_TIME_MEMORY_FRAMES = 1024

#: the shortest scene (seconds) the Segmenter keeps after a detector, by the detector's name,
#: when not told: the fast content detector reports every transition it sees, so of two closer
#: than this (a cut inside a dissolve, a flicker) only the stronger stands. TransNetV2 ("neural")
#: is left as it is; "combined" applies it to its content passes before TransNetV2 judges.
DEFAULT_MIN_SCENE_S = {"fast": 0.4}


@dataclass(frozen=True)
class Scene:
    """Frames [start_frame, end_frame] (inclusive) of a stream; times in seconds.

    `end_s` is where the last frame ends (its pts plus one frame duration), so consecutive
    scenes tile the stream: scene k's end_s is scene k+1's start_s.
    """

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    #: filled by the analysis (empty when not analysed): readable tags, strongest first; the
    #: person IDs seen, by first appearance; a paragraph saying what happens
    tags: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    description: str = ""
    #: (time, "p4 enters") notes for the one-line timeline
    moves: tuple[str, ...] = ()

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame + 1

    def timeline(self) -> str:
        """One line: `scene 3   00:01:05.0–00:01:40.2  people p1 p4  tags stage, microphone
        — p4 enters at 00:01:12.0` (the frame count when nothing was analysed)."""
        line = f"scene {self.index:<3d} {format_timecode(self.start_s)}–{format_timecode(self.end_s)}"
        if self.people:
            line += f"  people {' '.join(self.people)}"
        if self.tags:
            line += f"  tags {', '.join(self.tags)}"
        if not self.people and not self.tags:
            line += f"  ({self.frames} frames)"
        return f"{line} — {'; '.join(self.moves)}" if self.moves else line


class SceneAssembler:
    """Turns a stream of frames and boundaries into closed scenes, with bounded memory."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._times: deque[tuple[int, float]] = deque(maxlen=_TIME_MEMORY_FRAMES)
        self._time_of: dict[int, float] = {}
        self._start_frame = 0
        self._start_s = 0.0
        self._index = 0
        self._last_frame = -1
        self._last_end_s = 0.0
        self._seen_first = False
        self._frame_s = 0.0  # duration of one frame, from the latest two frames

    def state(self) -> dict:
        """The open scene and the remembered frame times, as plain data."""
        return {k: copy.copy(v) for k, v in self.__dict__.items()}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self.__dict__.update({k: copy.copy(v) for k, v in state.items()})

    def observe(self, frames: FrameBatch) -> None:
        """Record the times of the next frames of the stream."""
        if not len(frames):
            return
        seconds = frames.seconds()
        for idx, t in zip(frames.frame_index.tolist(), seconds.tolist()):
            if len(self._times) == self._times.maxlen:
                old, _ = self._times[0]
                self._time_of.pop(old, None)
            self._times.append((idx, t))
            self._time_of[idx] = t
        if not self._seen_first:
            self._seen_first = True
            self._start_frame = int(frames.frame_index[0])
            self._start_s = float(seconds[0])
        if len(seconds) > 1:
            self._frame_s = float(seconds[-1] - seconds[-2])
        self._last_frame = int(frames.frame_index[-1])
        self._last_end_s = float(seconds[-1]) + self._frame_s

    @property
    def last_frame(self) -> int:
        """The last frame observed (-1 before any)."""
        return self._last_frame

    def _time(self, frame: int) -> float:
        t = self._time_of.get(frame)
        if t is not None:
            return t
        # A frame that never decoded (or fell out of memory): the nearest earlier known frame.
        earlier = [i for i, _ in self._times if i <= frame]
        if not earlier:
            raise ValueError(f"boundary at frame {frame} is older than the assembler remembers")
        return self._time_of[max(earlier)]

    def cut(self, boundaries: list[Boundary]) -> list[Scene]:
        """Close the open scene at each boundary; return the scenes closed."""
        closed = []
        for b in boundaries:
            if b.frame <= self._start_frame or b.frame > self._last_frame:
                continue  # a boundary at the very first frame, or a repeat, opens nothing new
            start_s = self._time(b.frame)
            closed.append(Scene(self._index, self._start_frame, b.frame - 1, self._start_s, start_s))
            self._index += 1
            self._start_frame, self._start_s = b.frame, start_s
        return closed

    def finish(self) -> list[Scene]:
        """Close the last scene at the end of the stream."""
        if self._last_frame < self._start_frame:
            return []
        last = Scene(self._index, self._start_frame, self._last_frame, self._start_s, self._last_end_s)
        self._index += 1
        self._start_frame = self._last_frame + 1
        return [last]


class Segmenter:
    """Owns the frame loop of shot detection: frames in, closed scenes out.

    With a minimum scene length (seconds) a `MinSceneLengthFilter` follows the detector;
    `min_scene_len=None` takes `DEFAULT_MIN_SCENE_S` for the detector's name (none for a
    detector not named there). With a maximum (`max_scene_s` > 0) a `MaxSceneLengthFilter`
    follows that: a scene that would last longer is cut at the maximum (a fixed camera's day
    becomes scenes closed as it goes). Either filter needs a SettlingShotDetector.
    """

    def __init__(self, detector: ShotDetector, min_scene_len: float | None = None,
                 max_scene_s: float = 0.0) -> None:
        self.detector = detector
        if min_scene_len is None:
            min_scene_len = DEFAULT_MIN_SCENE_S.get(detector.name, 0.0)
        if (min_scene_len != 0 or max_scene_s != 0) and not isinstance(detector, SettlingShotDetector):
            raise TypeError(f"a minimum or maximum scene length needs a detector that says how far "
                            f"its answers are final (settled_until); {detector.name!r} does not: "
                            "pass min_scene_len=0 and max_scene_s=0")
        self.min_scene = MinSceneLengthFilter(min_scene_len) if min_scene_len != 0 else None
        self.max_scene = MaxSceneLengthFilter(max_scene_s) if max_scene_s != 0 else None
        self.assembler = SceneAssembler()

    def push(self, frames: FrameBatch) -> list[Scene]:
        """Feed the stream's next frames; return the scenes they closed."""
        self.assembler.observe(frames)
        found = self.detector.push(frames)
        if self.min_scene is not None or self.max_scene is not None:
            settled = self.detector.settled_until()  # type: ignore[attr-defined]
            if self.min_scene is not None:
                self.min_scene.observe(frames)
                found = self.min_scene.filter(found, settled)
                settled = self.min_scene.settled_until()
            if self.max_scene is not None:
                self.max_scene.observe(frames)
                found = self.max_scene.filter(found, settled)
        return self.assembler.cut(found)

    def finish(self) -> list[Scene]:
        """End of stream: the scenes still open, closed."""
        found = self.detector.flush()
        if self.min_scene is not None:
            found = self.min_scene.flush(found)
        if self.max_scene is not None:
            found = self.max_scene.flush(found, self.assembler.last_frame + 1)
        return self.assembler.cut(found) + self.assembler.finish()

    def reset(self) -> None:
        """Forget the stream, ready for a new one."""
        self.detector.reset()
        for f in (self.min_scene, self.max_scene):
            if f is not None:
                f.reset()
        self.assembler.reset()

    def state(self) -> dict:
        """The stream's segmentation state (detector, filters, open scene) as plain data; the
        detector must implement `state()`/`load_state()` (every vstream detector does)."""
        return {"detector": self.detector.state(), "assembler": self.assembler.state(),
                "min_scene": self.min_scene.state() if self.min_scene is not None else None,
                "max_scene": self.max_scene.state() if self.max_scene is not None else None}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from (same detector kind and settings)."""
        for name, f in (("minimum", self.min_scene), ("maximum", self.max_scene)):
            key = f"{name[:3]}_scene"
            if (state[key] is None) != (f is None):
                raise ValueError(f"the state was taken from a segmenter with"
                                 f"{'' if state[key] is not None else 'out'} a {name} scene "
                                 "length; build this one the same way")
        self.detector.load_state(state["detector"])
        if self.min_scene is not None:
            self.min_scene.load_state(state["min_scene"])
        if self.max_scene is not None:
            self.max_scene.load_state(state["max_scene"])
        self.assembler.load_state(state["assembler"])
