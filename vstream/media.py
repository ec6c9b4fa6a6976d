"""Media time as users read it. The exact time of a frame is its index in its stream (chunks
carry `first_frame` and a `Fraction` frame rate); seconds are derived from it (today already in
scene assembly, not only where rows are made and timelines printed)."""

from __future__ import annotations


def format_timecode(seconds: float) -> str:
    """`HH:MM:SS.s` with one decimal, the form timelines are printed in (00:01:05.2)."""
    if seconds < 0:
        raise ValueError(f"timecode of a negative time: {seconds}")
    tenths = int(round(seconds * 10))
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    secs, tenth = divmod(rest, 10)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{tenth}"
