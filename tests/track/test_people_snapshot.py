"""People snapshots: a fold saved at an offset, loaded, and folded on gives the fold of the whole
log; bytes that are not a snapshot of this version are refused with PeopleSnapshotError."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from vstream.track.gallery import PeopleGallery, Person
from vstream.track.people_log import NEW, SEEN, PeopleLog, PeopleRecord
from vstream.track.people_snapshot import (MAGIC, VERSION, PeopleSnapshotError,
                                           decode_snapshot, encode_snapshot)


def _records() -> list[PeopleRecord]:
    """A log of 3 people: one stored before it (`known`), two entered by `new` records (the
    second `new` of p5 matches them) and seen 40 times, noisily enough that they collect more
    exemplars than they keep."""
    rng = np.random.default_rng(0)
    looks = rng.normal(size=(3, 128))
    looks /= np.linalg.norm(looks, axis=1, keepdims=True)

    def near(i: int) -> np.ndarray:
        e = looks[i] + rng.normal(scale=0.04, size=128)  # cosine about 0.9 to the look
        return (e / np.linalg.norm(e)).astype(np.float32)

    stored = Person("m", "p4", looks[2][None, :].astype(np.float32), 3, "old", 0.5, "old", 2.5, 3)
    records = [PeopleRecord.of_person(stored),
               PeopleRecord(NEW, "m", "cam1", 1.0, near(0), threshold=0.7),
               PeopleRecord(NEW, "m", "cam2", 1.25, near(0), threshold=0.7),
               PeopleRecord(NEW, "m", "cam2", 1.5, near(1), threshold=0.7)]
    return records + [PeopleRecord(SEEN, "m", f"cam{k % 3}", 2.0 + k / 3, near(k % 2),
                                   person=("p5", "p6")[k % 2]) for k in range(40)]


def _fold(log: PeopleLog, records: list[PeopleRecord]) -> list[str | None]:
    return [log.apply(r) for r in records]


def _people(gallery: PeopleGallery, changed_only: bool) -> list[tuple]:
    return [(p.person_id, p.tracklets, p.first_stream, p.first_s, p.last_stream, p.last_s,
             p.version, p.exemplars.dtype, p.exemplars.tobytes())
            for p in gallery.people(changed_only)]


@pytest.mark.parametrize("at", [0, 1, 3, 20, 44])
def test_a_snapshot_and_the_rest_of_the_log_fold_what_the_whole_log_does(at: int) -> None:
    records = _records()
    whole = PeopleLog("m", 0.8)
    decided = _fold(whole, records)
    assert decided[:4] == ["p4", "p5", "p5", "p6"]
    writer = PeopleLog("m", 0.8)
    _fold(writer, records[:at])
    writer.gallery.people()  # the writer stored its people: what a reader must store is the same
    offset, state = decode_snapshot(encode_snapshot(at, writer.gallery.state()))
    reader = PeopleLog("m", 0.8)
    reader.gallery.load_state(state)
    assert offset == at
    assert decided[at:] == _fold(reader, records[at:])
    assert reader.gallery.person_ids == whole.gallery.person_ids == ["p4", "p5", "p6"]
    assert reader.gallery.next_id() == whole.gallery.next_id() == "p7"
    assert _people(reader.gallery, True) == _people(whole.gallery, True)  # p4 was not changed
    assert _people(reader.gallery, False) == _people(whole.gallery, False)
    assert max(len(p.exemplars) for p in whole.gallery.people(False)) == 8  # some were dropped


def test_a_gallery_refuses_the_state_of_another_model() -> None:
    other = PeopleGallery("other", 0.8)
    other.identify(np.ones((1, 4), np.float32), "cam", 1.0)
    gallery = PeopleGallery("m", 0.8)
    with pytest.raises(ValueError, match="a gallery of other with 8 exemplars a person, not m"):
        gallery.load_state(decode_snapshot(encode_snapshot(1, other.state()))[1])
    assert len(gallery) == 0


def _snapshot() -> bytes:
    return encode_snapshot(7, PeopleGallery("m", 0.8).state())


@pytest.mark.parametrize(("data", "error"), [
    (b"", "not a people snapshot: 0 bytes"),
    (b"not json", "not a people snapshot: starts b'not '"),
    (b"XXXX" + _snapshot()[4:], "not a people snapshot: starts b'XXXX'"),
    (MAGIC + struct.pack(">H", VERSION + 1) + _snapshot()[6:],
     f"people snapshot version {VERSION + 1}, this reader's is {VERSION}"),
    (_snapshot()[:-4], "corrupt people snapshot: error"),  # truncated: zlib's checksum is gone
    (_snapshot()[:6] + zlib.compress(b"not an npz"), "corrupt people snapshot"),
])
def test_bytes_that_are_not_a_snapshot_say_so(data: bytes, error: str) -> None:
    with pytest.raises(PeopleSnapshotError, match=f"^{error}"):
        decode_snapshot(data)
