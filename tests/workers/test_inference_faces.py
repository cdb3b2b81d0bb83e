"""restore-face: alignment math on synthetic landmarks (fast), the real cv2.FaceDetectorYN on a hand-made graph
with YuNet's signature (fast), and GFPGAN end to end (slow: full-size random weights, ~349 MB, with a stand-in
detector that reports known landmarks)."""
import math

import numpy as np
import pytest
from PIL import Image

import model_factories as mf
from workers import inference
from workers.engines.base import EngineInput, NoFaceFound
from workers.inference import faces
from workers.inference import restore_face as restore_module
from workers.inference import run_model_engine
from pixelforge import model_registry as reg
from pixelforge.model_registry import weights_file


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


def test_no_face_found_is_refused_by_name(tmp_path, monkeypatch):
    """#12 finding 14: a photo without a face is not charged for an unchanged copy."""
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
    try:
        with pytest.raises(NoFaceFound, match="no face") as raised:
            run_model_engine("restore-face", EngineInput(image, {"fidelity": 0.5}), tmp_path)
    finally:
        inference.clear_model_cache()
    assert raised.value.code == "no_face_found"
    assert restore_module.DETECTOR == "yunet-2023mar"


# The real cv2.FaceDetectorYN on a hand-made graph with YuNet 2023mar's signature (mf.write_yunet_like_onnx): it
# finds bright squares of 64 detector pixels, which are 64 / k image pixels after detect_faces enlarges by k.


@pytest.fixture
def yunet_dir(tmp_path):
    mf.write_yunet_like_onnx(weights_file(restore_module.DETECTOR, tmp_path))
    return tmp_path


def real_detector(models_dir):
    return faces.load_detector(weights_file(restore_module.DETECTOR, models_dir))


def black_with_squares(width, height, *squares):
    image = np.zeros((height, width, 3), np.uint8)
    for x, y, side in squares:
        image[y:y + side, x:x + side] = 255
    return image


def test_yunet_like_graph_has_yunets_outputs(tmp_path):
    import onnxruntime

    path = mf.write_yunet_like_onnx(tmp_path / "yunet.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"input": np.zeros((1, 3, 96, 160), np.float32)})))
    for stride in (8, 16, 32):
        for head, width in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
            assert outputs[f"{head}_{stride}"].shape == (1, (96 // stride) * (160 // stride), width)


def test_opening_the_detector_prints_nothing_and_keeps_opencvs_log_level(tmp_path, capfd):
    """OpenCV 5 warned on every create that its graph engine ignores the preferred target: seen on the console of
    `pixelforge models add yunet-2023mar` and in worker logs."""
    from cv2.utils import logging as cv_logging

    from workers.inference.loadable import check_loads

    path = mf.write_yunet_like_onnx(tmp_path / "yunet.onnx")
    before = cv_logging.getLogLevel()
    capfd.readouterr()
    faces.load_detector(path)
    assert check_loads(reg.REGISTRY.get(restore_module.DETECTOR), path) == []
    assert capfd.readouterr().err == ""
    assert cv_logging.getLogLevel() == before


@pytest.mark.parametrize(("width", "height", "square"), [
    (320, 240, (146, 106, 32)),  # enlarged x2 to 640x480
    (200, 300, (150, 250, 30)),  # enlarged to 427x640, which OpenCV pads to 448 wide; square in the corner
    (700, 500, (300, 204, 64)),  # detected as is
])
def test_real_detector_finds_the_placed_face(yunet_dir, width, height, square):
    x, y, side = square
    image = black_with_squares(width, height, square)
    found = faces.detect_faces(real_detector(yunet_dir), image)
    assert len(found) == 1  # the neighbouring cells that also fire are merged by NMS
    face = found[0]
    assert np.allclose(face.box, (x, y, side, side), atol=2.5)
    assert face.score > 0.9
    marks = face.landmarks
    assert ((marks >= (x, y)) & (marks <= (x + side, y + side))).all()
    assert marks[0, 0] < marks[1, 0] and marks[3, 0] < marks[4, 0]
    assert marks[:2, 1].max() < marks[2, 1] < marks[3:, 1].min()  # eyes above nose above mouth
    aligned = faces.warp_face(image, faces.alignment_matrix(marks))
    assert aligned.shape == (faces.FACE_SIZE, faces.FACE_SIZE, 3)
    assert aligned[64:448, 64:448].min() > 200  # the box spans the template's face: the square fills the crop


def test_a_face_that_fills_a_large_photo_is_found_by_a_coarser_pass(yunet_dir):
    # 400 px: too big for the detector at full size or at 640 px long (like YuNet past ~300 px); the 320 px pass
    # sees it at 62 px. Found once, in image coordinates.
    image = black_with_squares(2048, 1536, (800, 600, 400))
    assert faces.detection_scales(2048, 1536) == [1.0, 0.3125, 0.15625]
    found = faces.detect_faces(real_detector(yunet_dir), image)
    assert len(found) == 1
    assert np.allclose(found[0].box, (800, 600, 400, 400), atol=16)  # one 8 px cell at 0.156 is 51 px
    aligned = faces.warp_face(image, faces.alignment_matrix(found[0].landmarks))
    assert aligned[96:416, 96:416].min() > 200


def test_a_face_found_in_two_passes_is_one_face():
    class CountingDetector(StandInDetector):
        calls = 0

        def detect(self, image):
            CountingDetector.calls += 1
            return super().detect(image)

    box = (300.0, 204.0, 64.0, 64.0)
    marks = np.array([[324, 234], [340, 234], [332, 243], [325, 251], [339, 251]], np.float32)
    detector = CountingDetector(marks, box)
    detector.width = 640
    found = faces.detect_faces(detector, np.zeros((480, 640, 3), np.uint8))
    assert CountingDetector.calls == len(faces.detection_scales(640, 480)) == 2  # it fired in both passes
    assert len(found) == 1 and np.allclose(found[0].box, box, atol=0.01)
    assert np.allclose(found[0].landmarks, marks, atol=0.01)


def test_real_detector_keeps_two_faces_apart(yunet_dir):
    squares = [(42, 34, 32), (226, 166, 32)]
    found = faces.detect_faces(real_detector(yunet_dir), black_with_squares(320, 240, *squares))
    boxes = sorted(face.box for face in found)
    assert np.allclose(boxes, [(x, y, side, side) for x, y, side in squares], atol=2.5)


@pytest.mark.parametrize("grey", [0, 60])
def test_real_detector_finds_nothing_in_a_dark_image(yunet_dir, grey):
    image = np.full((240, 320, 3), grey, np.uint8)
    assert faces.detect_faces(real_detector(yunet_dir), image) == []


def test_restore_face_engine_runs_the_real_detector(yunet_dir, monkeypatch):
    (yunet_dir / "gfpgan-1.4").mkdir()
    (yunet_dir / "gfpgan-1.4" / "GFPGANv1.4.pth").write_bytes(b"x")
    monkeypatch.setattr(restore_module, "load_gfpgan", lambda path: "gfpgan")
    monkeypatch.setattr(restore_module, "restore_aligned", lambda gfpgan, face: 255.0 - face)  # inverts the face
    inference.clear_model_cache()
    before = black_with_squares(320, 240, (146, 106, 32))
    out = run_model_engine("restore-face", EngineInput(Image.fromarray(before), {"fidelity": 0.0}), yunet_dir)
    inference.clear_model_cache()
    assert out.info["faces_detected"] == 1 and out.info["faces_restored"] == 1
    after = np.asarray(out.image)
    assert after[114:130, 154:170].max() < 40  # the face, pasted back inverted where it was found
    assert (after[:, :130] == before[:, :130]).all() and (after[:, 190:] == before[:, 190:]).all()
