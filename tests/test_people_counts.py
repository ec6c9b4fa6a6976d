"""`vstream index` with the default model on vtest.avi (a fixed campus camera, 768x576, 10 fps,
people 40-120 px tall) against labels made by hand: the people it stores per analysed frame
against hand counts (issue 10's acceptance: within +-1 of the hand count on at least 90% of at
least 10 labelled frames), and whether its body tracks keep people apart (identity F1 against
hand-made identities, beside supervision's ByteTrack on the same stored boxes).

The hand counts are `tests/data/vtest_people.json` (one point per visible person on 13 frames),
the identities `tests/data/vtest_identities.json` (a point and an identity per visible person,
one frame a second over the first minute), both made by looking at the frames
(tests/data/README.md). vtest.avi comes from Debian's opencv-doc
(`scripts/install-debian-packages.sh opencv-doc`)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from vstream.detections import Detections
from vstream.drivers.index import index_video
from vstream.eval.point_tracks import PointLabels, score_point_tracks
from vstream.eval.presence import score_presence
from vstream.store import open_store
from vstream.track.track_identities import anonymous_id

pytestmark = pytest.mark.integration  # the frame model over a whole 795-frame video

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
VTEST_SIZE = (768, 576)
HAND_COUNTS = Path(__file__).parent / "data" / "vtest_people.json"
IDENTITIES = Path(__file__).parent / "data" / "vtest_identities.json"
#: analysed frames a second (the default): what the trackers' notion of time is
ANALYSIS_FPS = 5
#: identity F1 the stored body tracks must reach on the labelled minute: measured 0.668 with the
#: default (the student), supervision's ByteTrack 0.327 on the same boxes; with the teachers'
#: boxes 0.50 (0.56 on the held-out half, docs/models.md "Body tracks on a fixed camera") and
#: 0.26; the margin absorbs small shifts of the detector's boxes
IDF1_FLOOR = 0.40


@pytest.fixture(scope="module")
def stored_vtest(tmp_path_factory) -> tuple[list, list, list, list]:
    """The rows of vtest.avi indexed as a user would: analysed frames, person detections,
    tracks (track ID, person ID) and events (frame, kind, person ID)."""
    if not VTEST.exists():
        pytest.skip(f"{VTEST} is missing: install Debian's opencv-doc "
                    "(scripts/install-debian-packages.sh opencv-doc)")
    url = f"chdb://{tmp_path_factory.mktemp('vtest') / 'store'}"
    with open_store(url) as store:
        index_video(str(VTEST), store, stream_id="vtest")
        analysed = store.query_readonly("SELECT DISTINCT frame FROM detections WHERE stream_id = 'vtest'")
        persons = store.query_readonly(
            "SELECT frame, x1, y1, x2, y2, score, track_id FROM detections WHERE "
            "stream_id = 'vtest' AND class = 'person' ORDER BY frame, rank")
        tracks = store.query_readonly(
            "SELECT track_id, person_id FROM tracks WHERE stream_id = 'vtest'")
        events = store.query_readonly(
            "SELECT frame, kind, person_id FROM events WHERE stream_id = 'vtest' ORDER BY frame")
    return analysed.rows, persons.rows, tracks.rows, events.rows


@pytest.fixture(scope="module")
def stored_people(stored_vtest) -> dict[int, Detections]:
    """{analysed frame: its stored person boxes, with their confidence and track ID (-1: none)}
    of vtest.avi indexed as a user would."""
    analysed, persons, _, _ = stored_vtest
    rows: dict[int, list] = {int(f): [] for (f,) in analysed}
    for frame, *row in persons:
        rows[int(frame)].append(row)
    out = {}
    for frame, r in rows.items():
        a = np.asarray(r, np.float64).reshape(-1, 6)
        track = a[:, 5].astype(np.int64)
        # stored boxes are fractions of the frame; the labels are pixels
        out[frame] = Detections((a[:, :4] * np.array([*VTEST_SIZE, *VTEST_SIZE])).astype(np.float32),
                                a[:, 4].astype(np.float32),
                                tracker_id=np.where(track > 0, track, -1))
    return out


@pytest.fixture(scope="module")
def stored_counts(stored_people: dict[int, Detections]) -> dict[int, int]:
    """{frame: person rows stored} of vtest.avi (frames without one are absent)."""
    return {frame: len(d) for frame, d in stored_people.items() if len(d)}


def test_people_per_frame_match_hand_counts(stored_counts: dict[int, int]) -> None:
    hand = {int(k): len(v) for k, v in json.loads(HAND_COUNTS.read_text())["people"].items()}
    assert len(hand) >= 10
    # the labelled frames are even: analysed ones (5 fps of a 10 fps video)
    stored = {frame: stored_counts.get(frame, 0) for frame in hand}
    close = [frame for frame in hand if abs(stored[frame] - hand[frame]) <= 1]
    table = {frame: (hand[frame], stored[frame]) for frame in sorted(hand)}
    assert len(close) >= 0.9 * len(hand), f"(hand, stored) per frame: {table}"


#: share of all 63 labelled frames (the counts' 13 and the identities' 61, which agree where they
#: meet) within +-1: 0.873 measured with the default (the student; the teachers 0.889) since
#: low-score boxes extend tracks, 0.810 before (docs/models.md, "How many people, on 63
#: hand-labelled frames")
ALL_FRAMES_FLOOR = 0.85


def test_people_per_frame_match_every_hand_labelled_frame(stored_counts: dict[int, int]) -> None:
    """The 13 count frames are one frame from failing; the identity labels mark every visible
    person on 61 more. A walker half behind another or the sign, scoring below the threshold,
    is still counted while his track holds him."""
    hand = {int(k): len(v) for k, v in json.loads(IDENTITIES.read_text())["frames"].items()}
    counts = {int(k): len(v) for k, v in json.loads(HAND_COUNTS.read_text())["people"].items()}
    assert all(hand[f] == n for f, n in counts.items() if f in hand)  # the two label sets agree
    hand.update(counts)
    close = [f for f in hand if abs(stored_counts.get(f, 0) - hand[f]) <= 1]
    table = {f: (hand[f], stored_counts.get(f, 0)) for f in sorted(hand) if f not in close}
    print(f"within +-1 on {len(close)} of {len(hand)} labelled frames; off (hand, stored): {table}")
    assert len(hand) == 63 and len(close) >= ALL_FRAMES_FLOOR * len(hand), table


def _supervision_tracks(frames: dict[int, Detections]) -> dict[int, Detections]:
    """supervision's ByteTrack (its defaults, at the analysis rate) over the same boxes."""
    import supervision as sv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated there since 0.28
        tracker = sv.ByteTrack(frame_rate=ANALYSIS_FPS)
    out = {}
    for frame in sorted(frames):
        d = frames[frame]
        got = tracker.update_with_detections(sv.Detections(
            xyxy=d.xyxy.reshape(-1, 4), confidence=d.confidence, class_id=np.zeros(len(d), int)))
        ids = got.tracker_id if got.tracker_id is not None else []
        out[frame] = Detections(np.asarray(got.xyxy, np.float32).reshape(-1, 4),
                                tracker_id=np.asarray(ids, np.int64))
    return out


def test_body_tracks_keep_people_apart_better_than_supervision_bytetrack(stored_people):
    """Identity F1 of the stored track IDs against the hand-made identities, and of
    supervision's ByteTrack run on the very boxes stored (so the detector's misses cost both
    alike): clothing colour and finding lost walkers again must beat motion alone."""
    labels = PointLabels.load(IDENTITIES)
    assert len(labels.frames) >= 60 and len(labels.identities) >= 9
    ours = score_point_tracks(labels, stored_people)
    theirs = score_point_tracks(labels, _supervision_tracks(stored_people))
    assert ours.idf1 >= IDF1_FLOOR and ours.idf1 >= 1.3 * theirs.idf1, \
        f"ours {ours}; supervision {theirs}"


def test_people_who_walk_through_get_an_enter_and_a_leave_on_time(stored_vtest, stored_people):
    """The camera operator's view of the same index: each hand-marked person gets an `enter`
    within a second of when they were first marked and a `leave` within a second of when they
    were last marked, under a person ID of the tracks that carry them (vstream.eval.presence).
    Measured with the default (the student): enters on time for 9 of 10 people, leaves for 4 of
    4; 23 enters for the 10 (25 with the same prompt leaves before a walker taken up again
    where they were lost kept their person; 22 when a walker lost inside the picture was held
    3 s), since a body track an occlusion breaks for longer comes back as a new anonymous person,
    who enters again (docs/models.md, "Where a person was last seen")."""
    _, _, tracks, events = stored_vtest
    person_of_track = {int(t): p or anonymous_id(int(t)) for t, p in tracks}
    for d in stored_people.values():
        for t in d.tracker_id[d.tracker_id > 0]:
            person_of_track.setdefault(int(t), anonymous_id(int(t)))
    scores = score_presence(PointLabels.load(IDENTITIES), stored_people, person_of_track,
                            [(int(f), k, p) for f, k, p in events])
    assert scores.people == 10 and scores.went == 4
    assert scores.enter_recall >= 0.8 and scores.leave_recall >= 0.75, str(scores)
    assert scores.extra <= 2.5 * scores.people, str(scores)  # measured 14 extra


def test_the_student_never_gives_two_walkers_in_view_at_once_one_person_id(tmp_path: Path) -> None:
    """`--model unified` on the camera: a person ID names one person, so two body tracks that
    are in view at the same time never carry the same one (everyone here was `p1` when bodies
    were matched by the student's body vector, nearly the same for every walker)."""
    if not VTEST.exists():
        pytest.skip(f"{VTEST} is missing: install Debian's opencv-doc")
    with open_store(f"chdb://{tmp_path / 'store'}") as store:
        index_video(str(VTEST), store, stream_id="vtest", model="unified")
        tracks = store.query_readonly(
            "SELECT track_id, person_id, first_frame, last_frame FROM tracks "
            "WHERE stream_id = 'vtest' AND class = 'person'").rows
    assert len(tracks) >= 20, "the student should follow the walkers"
    for i, (a, pa, fa, la) in enumerate(tracks):
        for b, pb, fb, lb in tracks[i + 1:]:
            if pa and pa == pb and a != b:
                assert la < fb or lb < fa, f"tracks {a} and {b} are both {pa} at once"
