"""Argument checks shared by the public kernel wrappers; each error says how to fix the call."""

from __future__ import annotations

import numpy as np


def require_dtype(name: str, a: np.ndarray, dtypes: tuple[type, ...]) -> None:
    """Raise ValueError unless `a` is a NumPy array of one of `dtypes`."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype not in [np.dtype(d) for d in dtypes]:
        want = " or ".join(np.dtype(d).name for d in dtypes)
        raise ValueError(f"{name} must have dtype {want}, got {a.dtype}: convert with .astype()")


def require_ndim(name: str, a: np.ndarray, ndim: int, layout: str) -> None:
    """Raise ValueError unless `a` has `ndim` dimensions (`layout` names them for the message)."""
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {layout} ({ndim}-D), got shape {a.shape}")


def require_same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise ValueError unless `a` and `b` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def float64_contiguous(a: np.ndarray) -> np.ndarray:
    """`a` as a C-contiguous float64 array (no copy if it is one): the kernel bodies take one
    signature each and read every value as float64 anyway, so results do not change."""
    return np.ascontiguousarray(a, dtype=np.float64)
