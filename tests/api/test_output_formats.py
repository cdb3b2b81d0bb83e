"""Results as asked for: output_format png | jpeg | webp and output_quality on every operation; remove-background's
bg_color, channels=alpha (the mask) and crop (to the subject, with crop_margin); a greyscale picture stays grey."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import image_bytes


def subject_on_background(width: int = 96, height: int = 72) -> bytes:
    """A dark square subject in the middle of a light, slightly noisy background: an easy cut-out."""
    rng = np.random.default_rng(3)
    pixels = np.clip(rng.normal(225, 6, (height, width, 3)), 0, 255).astype(np.uint8)
    pixels[height // 4: 3 * height // 4, width // 3: 2 * width // 3] = (40, 60, 160)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def run(api, work_queue, operation: str, image: bytes, **fields) -> tuple[dict, Image.Image, str]:
    response = api.submit(operation, image, **fields)
    assert response.status_code == 202, response.get_json()
    work_queue()
    job = api.get(f"/jobs/{response.get_json()['job_id']}").get_json()
    assert job["status"] == "done", job
    download = api.get(f"/jobs/{job['job_id']}/download")
    return job, Image.open(io.BytesIO(download.data)), download.mimetype


@pytest.mark.parametrize("fmt, mimetype, pil_format", [("jpeg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP"),
                                                        ("png", "image/png", "PNG")])
def test_upscale_answers_in_the_format_asked_for(api, work_queue, fmt, mimetype, pil_format):
    job, result, served = run(api, work_queue, "upscale", image_bytes(), output_format=fmt)
    assert served == mimetype and result.format == pil_format and result.size == (64, 48)
    assert job["result"]["content_type"] == mimetype


def test_output_quality_trades_size_for_fidelity(api, work_queue):
    sizes = {}
    for quality in (20, 95):
        job_id = api.submit("enhance", image_bytes(64, 64), output_format="jpeg",
                            output_quality=str(quality)).get_json()["job_id"]
        work_queue()
        sizes[quality] = len(api.get(f"/jobs/{job_id}/download").data)
    assert sizes[20] < sizes[95]


def test_a_transparent_result_as_jpeg_is_flattened_onto_white(api, work_queue):
    job, result, _ = run(api, work_queue, "remove-background", subject_on_background(), output_format="jpeg")
    assert result.mode == "RGB"
    corner = np.asarray(result)[:4, :4].astype(int)
    assert corner.min() > 200  # the removed background became white, not the pixels that were under the alpha


def test_remove_background_on_a_colour_is_opaque(api, work_queue):
    _, result, _ = run(api, work_queue, "remove-background", subject_on_background(), bg_color="white")
    assert result.mode == "RGB" or np.asarray(result.getchannel("A")).min() == 255
    _, green, _ = run(api, work_queue, "remove-background", subject_on_background(), bg_color="#00ff00")
    assert tuple(np.asarray(green.convert("RGB"))[2, 2]) == (0, 255, 0)


def test_remove_background_channels_alpha_is_the_mask(api, work_queue):
    job, result, _ = run(api, work_queue, "remove-background", subject_on_background(), channels="alpha")
    assert result.mode == "L" and result.size == (96, 72)
    mask = np.asarray(result)
    assert mask[36, 48] > 200 and mask[2, 2] < 50  # subject white, background black


def test_remove_background_crops_to_the_subject_with_a_margin(api, work_queue):
    job, tight, _ = run(api, work_queue, "remove-background", subject_on_background(), crop="true")
    assert tight.width < 96 and tight.height < 72
    _, loose, _ = run(api, work_queue, "remove-background", subject_on_background(), crop="true", crop_margin="4")
    assert (loose.width, loose.height) == (min(96, tight.width + 8), min(72, tight.height + 8))
    assert job["result"]["width"] == tight.width and len(job["result"]["crop"]) == 4


@pytest.mark.parametrize("fields, param, code", [
    ({"bg_color": "not-a-colour"}, "bg_color", "invalid_color"),
    ({"output_format": "gif"}, "output_format", "validation_error"),
    ({"output_quality": "0"}, "output_quality", "validation_error"),
    ({"format": "webp", "output_format": "png"}, "format", "duplicate_field"),
    ({"channels": "rgb"}, "channels", "validation_error"),
])
def test_bad_output_options_are_422_and_free(api, fields, param, code):
    response = api.submit("remove-background", image_bytes(), **fields)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["param"], error["code"]) == (param, code)


def test_the_older_format_field_still_works(api, work_queue):
    job, result, served = run(api, work_queue, "remove-background", image_bytes(), format="webp")
    assert served == "image/webp" and job["params"]["output_format"] == "webp"


def grey_png(bits: int = 8, width: int = 48, height: int = 32) -> bytes:
    """A greyscale PNG (8 or 16 bits) with a dark square to erase and fine steps that 8 bits cannot hold."""
    import cv2

    y, x = np.mgrid[0:height, 0:width]
    top = 255 if bits == 8 else 65535
    pixels = (x / width * 0.6 * top + y / height * 0.3 * top).astype(np.uint16 if bits == 16 else np.uint8)
    pixels[height // 4:3 * height // 4, width // 3:2 * width // 3] = top // 10
    return cv2.imencode(".png", pixels)[1].tobytes()


@pytest.mark.parametrize("operation, fields", [("upscale", {"scale": "2"}), ("enhance", {}), ("erase-object", {})])
def test_a_greyscale_picture_comes_back_greyscale(api, work_queue, operation, fields):
    """Real-ESRGAN's own inference returns a grey picture grey; here a grey PNG came back as RGB, three times the
    bytes (seen as a new user)."""
    if operation == "erase-object":
        mask = np.zeros((32, 48), np.uint8)
        mask[8:24, 16:32] = 255
        fields = {"mask": image_bytes_of(mask)}
    for fmt in ("png", "jpeg"):
        job, result, _ = run(api, work_queue, operation, grey_png(), output_format=fmt, **fields)
        assert result.mode == "L", (fmt, job)


def test_a_sixteen_bit_greyscale_picture_comes_back_sixteen_bit_greyscale(api, work_queue):
    import cv2

    picture = grey_png(bits=16)
    source = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_UNCHANGED)
    job_id = api.submit("upscale", picture, scale="2").get_json()["job_id"]
    work_queue()
    result = cv2.imdecode(np.frombuffer(api.get(f"/jobs/{job_id}/download").data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert result.dtype == np.uint16 and result.shape == (64, 96)
    assert np.any(result % 257 != 0)  # values between the 8-bit levels survive
    assert abs(float(result.mean()) - float(source.mean())) < 0.01 * 65535


def test_colour_pictures_and_cut_outs_keep_their_colour_channels(api, work_queue):
    _, upscaled, _ = run(api, work_queue, "upscale", image_bytes())
    _, cut_out, _ = run(api, work_queue, "remove-background", grey_png())  # a cut-out is RGBA, whatever came in
    assert (upscaled.mode, cut_out.mode) == ("RGB", "RGBA")


def image_bytes_of(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
