"""16-bit inputs stay 16-bit through upscaling, classical and model engines alike."""
import cv2
import numpy as np
import pytest
from PIL import Image

import model_factories as mf
from pixelforge.images import decode_deep, encode_deep_png
from workers.engines import run_operation
from workers.engines.base import EngineInput
from workers.inference import clear_model_cache


def deep_image(width=24, height=16, channels=3, seed=0) -> np.ndarray:
    """A smooth 16-bit gradient with fine steps that 8 bits cannot hold."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(seed)
    planes = [(x / width * 40000 + y / height * 20000 + rng.integers(0, 7, (height, width))) for _ in range(3)]
    if channels == 4:
        planes.append(np.full((height, width), 50000.0))
    return np.clip(np.dstack(planes), 0, 65535).astype(np.uint16)


def as_input(deep: np.ndarray, scale: int) -> EngineInput:
    preview = Image.fromarray((deep >> 8).astype(np.uint8), "RGBA" if deep.shape[2] == 4 else "RGB")
    return EngineInput(image=preview, params={"scale": scale}, deep=deep)


@pytest.mark.parametrize("channels", [3, 4])
def test_png_round_trip_keeps_every_bit(channels):
    deep = deep_image(channels=channels)
    assert np.array_equal(decode_deep(encode_deep_png(deep)), deep)


def test_eight_bit_pngs_are_not_deep():
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    assert decode_deep(buffer.getvalue()) is None


@pytest.mark.parametrize("channels", [3, 4])
def test_classical_upscale_keeps_sixteen_bits(tmp_path, channels):
    deep = deep_image(channels=channels)
    out = run_operation("upscale", as_input(deep, 2), tmp_path)
    assert out.engine == "classical" and out.deep.dtype == np.uint16
    assert out.deep.shape == (32, 48, channels)
    assert np.any(out.deep[..., :3] % 257 != 0)  # values between the 8-bit levels survive
    reference = cv2.resize(deep, (48, 32), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    assert np.abs(out.deep.astype(np.float64) - reference).mean() < 600  # within 1 % of full scale on average
    if channels == 4:
        assert np.all(out.deep[..., 3] == 50000)


def test_model_upscale_keeps_sixteen_bits(tmp_path):
    folder = tmp_path / "realesrgan-x4plus"
    folder.mkdir()
    mf.write_rrdbnet(folder / "RealESRGAN_x4plus.pth", scale=4)
    clear_model_cache()
    try:
        deep = deep_image(channels=4)
        out = run_operation("upscale", as_input(deep, 4), tmp_path)
        eight_bit = run_operation("upscale", EngineInput(image=as_input(deep, 4).image, params={"scale": 4}),
                                  tmp_path)
    finally:
        clear_model_cache()
    assert out.engine == "model" and out.model == "realesrgan-x4plus"
    assert out.deep.dtype == np.uint16 and out.deep.shape == (64, 96, 4)
    assert np.any(out.deep[..., :3] % 257 != 0)
    # the same network at 8 bits agrees within the 8-bit quantisation of its input and output
    difference = np.abs((out.deep[..., :3] >> 8).astype(int) - np.asarray(eight_bit.image)[..., :3].astype(int))
    assert np.median(difference) <= 1
