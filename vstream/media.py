"""Media time as an exact value: a pts in a stream's time base, not a loose float."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, order=True)
class MediaTime:
    """A presentation timestamp `pts` counted in units of `time_base` seconds."""

    pts: int
    time_base: Fraction

    @property
    def seconds(self) -> float:
        return float(self.pts * self.time_base)

    def __str__(self) -> str:
        return format_timecode(self.seconds)


def format_timecode(seconds: float) -> str:
    """`HH:MM:SS.s` with one decimal, the form timelines are printed in (00:01:05.2)."""
    if seconds < 0:
        raise ValueError(f"timecode of a negative time: {seconds}")
    tenths = int(round(seconds * 10))
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    secs, tenth = divmod(rest, 10)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{tenth}"
