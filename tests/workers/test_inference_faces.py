"""restore-face: alignment math on synthetic landmarks (fast) and GFPGAN end to end (slow: full-size
random weights, ~349 MB; the YuNet detector is replaced by a stand-in that reports known landmarks)."""
import math

import numpy as np
import pytest

import model_factories as mf
from workers import inference
from workers.engines.base import EngineInput
from workers.inference import faces
from workers.inference import restore_face as restore_module
from workers.inference import run_model_engine


def similarity(points, angle_deg, scale, shift):
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * scale
    return (points @ rot.T + shift).astype(np.float32)


def test_alignment_maps_landmarks_onto_the_template():
    landmarks = similarity(faces.FFHQ_TEMPLATE_512, 17, 0.4, (300, 120))
    matrix = faces.alignment_matrix(landmarks)
    mapped = landmarks @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - faces.FFHQ_TEMPLATE_512).max() < 0.05
    # a similarity: equal scale on both axes, no shear
    assert np.allclose(np.linalg.norm(matrix[:, 0]), np.linalg.norm(matrix[:, 1]), rtol=1e-4)
    assert np.linalg.norm(matrix[:, 0]) == pytest.approx(1 / 0.4, rel=1e-3)


def test_landmarks_are_put_in_template_order():
    shuffled = faces.FFHQ_TEMPLATE_512[[1, 0, 2, 4, 3]]
    assert np.allclose(faces.order_landmarks(shuffled), faces.FFHQ_TEMPLATE_512)


def test_warp_then_paste_of_an_unchanged_face_is_nearly_lossless():
    image = np.asarray(mf.gradient_image(400, 300)).copy()
    original = image.copy()
    landmarks = similarity(faces.FFHQ_TEMPLATE_512, 8, 0.3, (120, 60))
    matrix = faces.alignment_matrix(landmarks)
    aligned = faces.warp_face(image, matrix)
    faces.paste_face(image, aligned, matrix)
    diff = np.abs(image.astype(int) - original.astype(int))
    assert diff.mean() < 2.0
    assert (image[:, 330:] == original[:, 330:]).all()  # far from the face: untouched


def test_fidelity_one_keeps_the_original_face():
    restored = np.zeros((4, 4, 3), np.float32)
    original = np.full((4, 4, 3), 200, np.uint8)
    assert np.allclose(faces.blend_fidelity(restored, original, 1.0), 200)
    assert np.allclose(faces.blend_fidelity(restored, original, 0.0), 0)
    assert np.allclose(faces.blend_fidelity(restored, original, 0.25), 50)


class StandInDetector:
    """Reports one face with known landmarks, in YuNet's row format."""

    def __init__(self, landmarks, box):
        self.row = np.array([*box, *landmarks.reshape(-1), 0.99], np.float32)[None]

    def setInputSize(self, size):
        self.size = size

    def detect(self, image):
        k = image.shape[1] / self.width
        row = self.row.copy()
        row[0, :14] *= k
        return 1, row


@pytest.fixture(scope="module")
def gfpgan_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    mf.write_gfpgan(folder / "gfpgan-1.4" / "GFPGANv1.4.pth")
    (folder / "yunet-2023mar").mkdir()
    (folder / "yunet-2023mar" / "face_detection_yunet_2023mar.onnx").write_bytes(b"stand-in")
    return folder


@pytest.mark.slow
def test_gfpgan_end_to_end(gfpgan_dir, monkeypatch):
    inference.clear_model_cache()
    image = mf.gradient_image(320, 240)
    landmarks = similarity(faces.FFHQ_TEMPLATE_512, 5, 0.25, (100, 40))
    detector = StandInDetector(landmarks, (140, 80, 110, 130))
    detector.width = 320
    monkeypatch.setattr(faces, "load_detector", lambda path: detector)
    progress = []
    inp = EngineInput(image, {"fidelity": 0.3}, progress=progress.append)
    out = run_model_engine("restore-face", inp, gfpgan_dir)
    assert out.model == "gfpgan-1.4" and out.engine == "model"
    assert out.info["faces_detected"] == 1 and out.info["faces_restored"] == 1
    assert out.image.size == image.size
    before, after = np.asarray(image), np.asarray(out.image)
    assert (before[:, 300:] == after[:, 300:]).all()
    assert not np.array_equal(before, after)
    assert progress[-1] == pytest.approx(1.0)
    inference.clear_model_cache()


def test_no_face_found_returns_the_image_unchanged(tmp_path, monkeypatch):
    class Nobody:
        def setInputSize(self, size):
            pass

        def detect(self, image):
            return 1, None

    for name, path in (("gfpgan-1.4", "GFPGANv1.4.pth"), ("yunet-2023mar", "face_detection_yunet_2023mar.onnx")):
        (tmp_path / name).mkdir()
        (tmp_path / name / path).write_bytes(b"x")
    monkeypatch.setattr(faces, "load_detector", lambda path: Nobody())
    inference.clear_model_cache()
    image = mf.gradient_image(50, 40)
    out = run_model_engine("restore-face", EngineInput(image, {"fidelity": 0.5}), tmp_path)
    inference.clear_model_cache()
    assert out.info["faces_detected"] == 0
    assert np.array_equal(np.asarray(out.image), np.asarray(image))
    assert restore_module.DETECTOR == "yunet-2023mar"
