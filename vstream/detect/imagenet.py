"""The 1000 ImageNet-1k (ILSVRC-2012) classes, in the index order of the classifier's logits.

Source of `data/imagenet_classes.txt`: the `timm` 1.0.31 wheel from PyPI (`pip download timm
--no-deps`), files `timm/data/_info/imagenet_synsets.txt` (the 1000 WordNet synset ids, sorted,
which is the torchvision/ILSVRC class order the MobileNetV2 weights use) and
`timm/data/_info/imagenet_synset_to_lemma.txt` (WordNet lemmas per synset). Each line of our file
is `synset<TAB>lemmas`, joined verbatim from those two files; nothing was typed by hand.

A class's `name` is its first lemma ("tabby" for "tabby, tabby cat"). Two names occur twice
("crane": the bird n02012849 and the machine n03126707; "maillot": n03710637 and n03710721), so
`class_index` also takes synset ids, and refuses an ambiguous name.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import NamedTuple

NUM_CLASSES = 1000


class ImageNetClass(NamedTuple):
    """One class: its logit index, WordNet synset id, first lemma and all lemmas."""

    index: int
    synset: str
    name: str
    lemmas: tuple[str, ...]


@functools.cache
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """The 1000 classes in logit order, read once from the package data."""
    text = importlib.resources.files("vstream.detect").joinpath("data/imagenet_classes.txt")
    rows = text.read_text(encoding="utf-8").splitlines()
    classes = []
    for index, row in enumerate(rows):
        synset, lemmas = row.split("\t")
        names = tuple(lemmas.split(", "))
        classes.append(ImageNetClass(index, synset, names[0], names))
    # an invariant of the shipped file, not a caller mistake
    assert len(classes) == NUM_CLASSES, f"imagenet_classes.txt has {len(classes)} rows"
    return tuple(classes)


@functools.cache
def _lookup() -> dict[str, int | None]:
    # name -> index, None where the name is shared by two classes; synset ids are unique
    table: dict[str, int | None] = {}
    for cls in imagenet_classes():
        table[cls.name] = None if cls.name in table else cls.index
        table[cls.synset] = cls.index
    return table


def class_index(name: str) -> int:
    """Logit index of a class given by its name (first lemma, exact case) or its synset id.

    Raises ValueError for an unknown name, or for a name two classes share (use the synset id).
    """
    index = _lookup().get(name, -1)
    if index is None:
        synsets = [c.synset for c in imagenet_classes() if c.name == name]
        raise ValueError(f"ImageNet class name {name!r} is ambiguous: use one of {synsets}")
    if index < 0:
        raise ValueError(
            f"unknown ImageNet class {name!r}: give a first lemma from "
            "vstream/detect/data/imagenet_classes.txt (e.g. 'tabby', 'sports car') or a synset id"
        )
    return index
