"""People snapshots: a people log's fold (`PeopleGallery.state()`) at a log offset, as bytes.

A snapshot at offset N is the gallery folded from every record before N; a reader loads it and
folds the log from N on, and gets the gallery it would have folded from the start. The bytes
come from a broker, so they hold plain data only (no pickle, which would run code):

    MAGIC, VERSION (big-endian uint16), zlib(npz of the state's arrays + "meta": its JSON)

Bump VERSION when the format or the fold's rules (`PeopleLog.apply`, the gallery's exemplar
rules) change: a snapshot folded by other rules would make a reader's gallery differ from its
peers', so readers skip snapshots of another version and read the log from the start.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

import numpy as np

MAGIC = b"VSPS"
VERSION = 1
_HEADER = struct.Struct(f">{len(MAGIC)}sH")
_META = "meta"


class PeopleSnapshotError(ValueError):
    """Bytes that are not a people snapshot of this version (corrupt, truncated, another
    format)."""


def encode_snapshot(offset: int, state: dict) -> bytes:
    """The snapshot of the fold of every log record before `offset`: `state` is
    `PeopleGallery.state()` (NumPy arrays and JSON values)."""
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    meta = {k: v for k, v in state.items() if k not in arrays} | {"offset": offset}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{_META: np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    return _HEADER.pack(MAGIC, VERSION) + zlib.compress(buffer.getvalue())


def decode_snapshot(data: bytes) -> tuple[int, dict]:
    """(offset, state) of the snapshot `encode_snapshot` made. Raises PeopleSnapshotError."""
    if len(data) < _HEADER.size:
        raise PeopleSnapshotError(f"not a people snapshot: {len(data)} bytes")
    magic, version = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise PeopleSnapshotError(f"not a people snapshot: starts {magic!r}, not {MAGIC!r}")
    if version != VERSION:
        raise PeopleSnapshotError(f"people snapshot version {version}, this reader's is {VERSION}")
    try:
        with np.load(io.BytesIO(zlib.decompress(data[_HEADER.size:])),
                     allow_pickle=False) as npz:
            state = {k: npz[k] for k in npz.files}
        meta = json.loads(state.pop(_META).tobytes())
        offset = meta.pop("offset")
    except (zlib.error, zipfile.BadZipFile, OSError, ValueError, KeyError,
            AttributeError) as ex:
        raise PeopleSnapshotError(f"corrupt people snapshot: {ex!r}") from ex
    if not isinstance(offset, int) or offset < 0:
        raise PeopleSnapshotError(f"corrupt people snapshot: offset {offset!r}")
    return offset, state | meta
