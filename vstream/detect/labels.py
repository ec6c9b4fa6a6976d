"""Detection classes of the unified network and its teachers (class_id = index)."""

from __future__ import annotations

PERSON = 0
FACE = 1
CLASS_NAMES: tuple[str, ...] = ("person", "face")

#: the size (width, height) frames are analysed at by the network and the teachers: 16:9-ish,
#: both multiples of 32 (the backbone's stride), and large enough that a face of 10 px in a
#: 160x90 frame covers a few cells of the stride-8 grid
ANALYSIS_SIZE: tuple[int, int] = (384, 224)
