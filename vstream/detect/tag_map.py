"""The tag vocabulary: `data/tag_map.json` read into a `TagMap` (which ImageNet classes evidence
each tag; `vstream.detect.tags` says what a tag is). Torch-free: the unified network's runtime
names its tags without importing torch."""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from vstream.detect.imagenet import NUM_CLASSES, class_index

TAG_KINDS = ("object", "scene")


class TagMap(NamedTuple):
    """Tags in file order, each tag's kind, and the (1000, n_tags) 0/1 class-to-tag matrix."""

    tags: tuple[str, ...]
    kinds: tuple[str, ...]
    matrix: np.ndarray  # float32 (NUM_CLASSES, len(tags)); scores = probabilities @ matrix


def parse_tag_map(data: Mapping[str, Mapping[str, Sequence[str]]]) -> TagMap:
    """Validate `{"object": {tag: [class, ...]}, "scene": {...}}` and build its TagMap.

    Raises ValueError naming the tag for: an unknown or ambiguous class name, an unknown kind,
    a tag with no classes, a class listed twice in one tag, or a tag defined in both kinds.
    """
    unknown = set(data) - set(TAG_KINDS)
    if unknown:
        raise ValueError(f"tag map kinds must be among {TAG_KINDS}, got {sorted(unknown)}")
    tags: list[str] = []
    kinds: list[str] = []
    columns: list[list[int]] = []
    for kind in TAG_KINDS:
        for tag, names in data.get(kind, {}).items():
            if tag in tags:
                raise ValueError(f"tag {tag!r} is defined twice")
            if isinstance(names, str) or not names:
                raise ValueError(f"tag {tag!r} needs a non-empty list of ImageNet class names")
            try:
                indices = [class_index(name) for name in names]
            except ValueError as ex:
                raise ValueError(f"tag {tag!r}: {ex}") from ex
            if len(set(indices)) != len(indices):
                raise ValueError(f"tag {tag!r} lists a class twice: {list(names)}")
            tags.append(tag)
            kinds.append(kind)
            columns.append(indices)
    matrix = np.zeros((NUM_CLASSES, len(tags)), dtype=np.float32)
    for column, indices in enumerate(columns):
        matrix[indices, column] = 1.0
    return TagMap(tuple(tags), tuple(kinds), matrix)


@functools.cache
def default_tag_map() -> TagMap:
    """The vocabulary shipped as `vstream/detect/data/tag_map.json`."""
    text = importlib.resources.files("vstream.detect").joinpath("data/tag_map.json")
    return parse_tag_map(json.loads(text.read_text(encoding="utf-8")))
