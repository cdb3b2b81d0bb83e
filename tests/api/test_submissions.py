"""POST /api/v1/<operation>: 202 for good requests; a clear 422 (and no charge, nothing queued) for bad ones."""
import io
import math

import numpy as np

import pytest
from PIL import Image

from conftest import image_bytes, mask_bytes


def queued_count(app) -> int:
    from pixelforge.queue import get_queue, job_queue_names

    return sum(get_queue(name).count for name in job_queue_names())


def balance(user) -> int:
    from pixelforge.extensions import db
    from pixelforge.models import User

    return db.session.get(User, user.id if isinstance(user, User) else user).credits


@pytest.mark.parametrize("operation, fields, cost", [
    ("upscale", {}, 1),
    ("upscale", {"scale": 4}, 2),
    ("remove-background", {}, 1),
    ("remove-background", {"format": "webp"}, 1),
    ("restore-face", {"fidelity": 0.3}, 1),
    ("enhance", {}, 1),
])
def test_accepted_submission_charges_and_queues(app, api, operation, fields, cost):
    response = api.submit(operation, image_bytes(), **fields)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "queued" and len(body["job_id"]) == 36
    assert balance(api.user) == 10 - cost
    assert queued_count(app) == 1


def test_erase_takes_image_and_mask(app, api):
    response = api.submit("erase-object", image_bytes(), mask_bytes())
    assert response.status_code == 202


def test_defaults_are_filled_in(api):
    job_id = api.submit("upscale", image_bytes()).get_json()["job_id"]
    job = api.get(f"/jobs/{job_id}").get_json()
    assert job["params"] == {"scale": 2, "output_format": "png", "output_quality": None}
    assert job["status"] == "queued" and job["credits"] == 1 and job["progress"] == 0


BAD_REQUESTS = [
    # (operation, image, mask, fields, param, code)
    ("upscale", None, None, {}, "image", "missing_file"),
    ("upscale", b"", None, {}, "image", "empty_file"),
    ("upscale", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, None, {}, "image", "corrupt_image"),
    ("upscale", bytes(range(256)) * 4, None, {}, "image", "unsupported_format"),
    ("upscale", b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", None, {}, "image",
     "unsupported_format"),
    ("upscale", b"%PDF-1.4\n%...", None, {}, "image", "unsupported_format"),
    ("upscale", b"SIMPLE  =                    T" + b" " * 50, None, {}, "image", "unsupported_format"),
    ("upscale", "gif", None, {}, "image", "unsupported_format"),
    ("upscale", "png", None, {"scale": 3}, "scale", "validation_error"),
    ("upscale", "png", None, {"scale": "two"}, "scale", "validation_error"),
    ("upscale", "png", None, {"size": 2}, "size", "unknown_parameter"),
    ("remove-background", "png", None, {"format": "gif"}, "format", "validation_error"),
    ("remove-background", "png", None, {"model": "sam"}, "model", "validation_error"),
    ("remove-background", "png", None, {"alpha_matting": "maybe"}, "alpha_matting", "validation_error"),
    ("restore-face", "png", None, {"fidelity": 1.5}, "fidelity", "validation_error"),
    ("restore-face", "png", None, {"fidelity": "nan"}, "fidelity", "validation_error"),
    ("restore-face", "png", None, {"fidelity": "inf"}, "fidelity", "validation_error"),
    ("erase-object", "png", None, {}, "mask", "missing_file"),
    ("erase-object", "png", "wrong-size", {}, "mask", "mask_size_mismatch"),
    ("erase-object", "png", "empty", {}, "mask", "empty_mask"),
    ("enhance", "png", "ok-mask", {}, "mask", "unknown_parameter"),
    ("inpaint", "png", "ok-mask", {"steps": 0}, "steps", "validation_error"),
    ("inpaint", "png", "ok-mask", {"steps": 10000}, "steps", "validation_error"),
    ("inpaint", "png", "ok-mask", {"cfg_scale": "NaN"}, "cfg_scale", "validation_error"),
    ("inpaint", "png", "ok-mask", {"strength": 0}, "strength", "validation_error"),
    ("inpaint", "png", "ok-mask", {"steps": 1, "strength": 0.5}, "strength", "validation_error"),
    ("inpaint", "png", "ok-mask", {"seed": -1}, "seed", "validation_error"),
    ("inpaint", "png", "ok-mask", {"prompt": "x" * 100_000}, "prompt", "validation_error"),
    # #12 finding 7: pixel data that does not decode (CRCs recomputed, so only decoding finds it); a mask that
    # would replace everything
    ("enhance", "png-corrupt-idat", None, {}, "image", "corrupt_image"),
    ("enhance", "png-truncated-idat", None, {}, "image", "corrupt_image"),
    ("enhance", "png-bad-filter", None, {}, "image", "corrupt_image"),
    ("erase-object", "png", "png-corrupt-idat", {}, "mask", "corrupt_image"),
    ("erase-object", "png", "all-white", {}, "mask", "full_mask"),
    ("inpaint", "png", "all-white", {}, "mask", "full_mask"),
    # #12 finding 9: ASCII decimal numbers only
    ("upscale", "png", None, {"scale": "\u0664"}, "scale", "validation_error"),  # Arabic-Indic 4
    ("upscale", "png", None, {"scale": "+4"}, "scale", "validation_error"),
    ("upscale", "png", None, {"scale": "0004"}, "scale", "validation_error"),
    ("upscale", "png", None, {"scale": "\uff14"}, "scale", "validation_error"),  # fullwidth 4
    ("upscale", "png", None, {"scale": "4\u00a0"}, "scale", "validation_error"),  # a no-break space
    ("inpaint", "png", "ok-mask", {"steps": "\uff11\uff10"}, "steps", "validation_error"),  # fullwidth 10
    ("inpaint", "png", "ok-mask", {"steps": "1_0"}, "steps", "validation_error"),
    ("inpaint", "png", "ok-mask", {"seed": "\u0664\u0662"}, "seed", "validation_error"),
    ("restore-face", "png", None, {"fidelity": "\u0660.\u0665"}, "fidelity", "validation_error"),
    ("restore-face", "png", None, {"fidelity": "+0.5"}, "fidelity", "validation_error"),
    ("restore-face", "png", None, {"fidelity": "5e-1"}, "fidelity", "validation_error"),
    ("restore-face", "png", None, {"fidelity": ".5"}, "fidelity", "validation_error"),
    ("restore-face", "png", None, {"fidelity": "0_5"}, "fidelity", "validation_error"),
    ("inpaint", "png", "ok-mask", {"cfg_scale": "\uff17"}, "cfg_scale", "validation_error"),
]


def _png_with_pixel_data(raw_zlib: bytes, width: int = 32, height: int = 24) -> bytes:
    """An 8-bit RGB PNG around the given IDAT payload, every chunk's CRC correct."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw_zlib) + chunk(b"IEND", b""))


def _broken_png(kind: str) -> bytes:
    import zlib

    rows = b"".join(b"\x00" + bytes(range(96)) for _ in range(24))  # 24 rows of 32 RGB pixels, filter 0
    stream = zlib.compress(rows)
    if kind == "png-corrupt-idat":  # the first deflate block header says "reserved block type"
        payload = stream[:2] + b"\xff" + stream[3:]
    elif kind == "png-truncated-idat":
        payload = stream[: len(stream) // 2]
    else:  # png-bad-filter: a well-formed stream whose rows name filter type 7
        payload = zlib.compress(b"".join(b"\x07" + bytes(range(96)) for _ in range(24)))
    data = _png_with_pixel_data(payload)
    Image.open(io.BytesIO(data))  # the header reads fine…
    with pytest.raises(OSError):  # …and only decoding finds the damage
        Image.open(io.BytesIO(data)).load()
    return data


def _materialise(kind):
    if kind == "png":
        return image_bytes()
    if isinstance(kind, str) and kind.startswith("png-"):
        return _broken_png(kind)
    if kind == "all-white":
        return mask_bytes(box=(0, 0, 32, 24))
    if kind == "gif":
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, format="GIF")
        return buffer.getvalue()
    if kind == "wrong-size":
        return mask_bytes(16, 16, (2, 2, 8, 8))
    if kind == "empty":
        return mask_bytes(box=(0, 0, 0, 0))
    if kind == "ok-mask":
        return mask_bytes()
    return kind


@pytest.mark.parametrize("operation, image, mask, fields, param, code", BAD_REQUESTS)
def test_bad_input_is_422_and_free(app, api, operation, image, mask, fields, param, code):
    response = api.submit(operation, _materialise(image), _materialise(mask), **fields)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert error["message"] and error["request_id"]
    assert balance(api.user) == 10
    assert queued_count(app) == 0


def test_header_bomb_is_refused_from_the_header(api):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    response = api.submit("upscale", bomb)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "image_too_large"


def test_truncated_png_is_422(api):
    whole = image_bytes(64, 64)
    response = api.submit("enhance", whole[: len(whole) // 2])
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "corrupt_image"


def test_jpeg_named_png_is_sniffed_and_accepted(api):
    response = api.submit("enhance", image_bytes(fmt="JPEG"))
    assert response.status_code == 202


def test_animated_webp_is_refused(api):
    frames = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:])
    response = api.submit("enhance", buffer.getvalue())
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "animated_image"


def test_output_over_the_pixel_cap_is_422_before_queueing(app, api):
    app.config["MAX_OUTPUT_PIXELS"] = 32 * 24 * 4 * 3  # a 2x result fits, a 4x result does not
    assert api.submit("upscale", image_bytes(), scale=2).status_code == 202
    response = api.submit("upscale", image_bytes(), scale=4)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "output_too_large"


def test_image_sent_as_text_field_explains_itself(api):
    """The seed's Node example: built-in FormData stringifies a ReadStream into '[object Object]'."""
    response = api.client.post("/api/v1/remove-background", headers=api.headers,
                               data={"image": "[object Object]"}, content_type="multipart/form-data")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "file_sent_as_text" and error["param"] == "image"
    assert "[object Object]" in error["message"] and "Blob" in error["message"]


def test_json_body_is_refused_clearly(api):
    response = api.client.post("/api/v1/enhance", headers=api.headers, json={"image": "abc"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


def test_invalid_utf8_field_is_422(api):
    body = (b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + image_bytes() + b"\r\n--b\r\n"
            b"Content-Disposition: form-data; name=\"scale\"\r\n\r\n\xff\xfe2\r\n--b--\r\n")
    response = api.client.post("/api/v1/upscale", headers=api.headers, data=body,
                               content_type="multipart/form-data; boundary=b")
    assert response.status_code == 422


def _multipart(*parts: tuple[str, bytes, bool]) -> bytes:
    """A raw multipart body from (name, bytes, is_file) parts, boundary "b"."""
    body = b""
    for name, data, is_file in parts:
        filename = f'; filename="{name}.png"' if is_file else ""
        kind = b"Content-Type: image/png\r\n" if is_file else b""
        body += (f'--b\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n'.encode() + kind + b"\r\n"
                 + data + b"\r\n")
    return body + b"--b--\r\n"


@pytest.mark.parametrize("parts, param", [
    ((("image", "png", True), ("image", "other", True)), "image"),
    ((("image", "png", True), ("mask", "mask", True), ("mask", "mask", True)), "mask"),
    ((("image", "png", True), ("scale", b"2", False), ("scale", b"4", False)), "scale"),
])
def test_a_repeated_part_is_422_and_free(app, api, parts, param):
    """Two images (or two values of one field) leave it unclear what would be charged: refuse, never pick one."""
    materials = {"png": image_bytes(), "other": image_bytes(seed=1), "mask": mask_bytes()}
    body = _multipart(*((name, materials.get(data, data), is_file) for name, data, is_file in parts))
    operation = "erase-object" if param == "mask" else "upscale"
    response = api.client.post(f"/api/v1/{operation}", headers=api.headers, data=body,
                               content_type="multipart/form-data; boundary=b")
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["param"], error["code"]) == (param, "duplicate_field")
    assert balance(api.user) == 10 and queued_count(app) == 0


def test_a_real_replacement_character_in_a_prompt_is_text(app, api, live_worker):
    """U+FFFD sent as valid UTF-8 (EF BF BD) is a character like any other; only invalid bytes are refused."""
    live_worker("sd-inpainting")
    prompt = "a sign that reads \ufffd"
    body = _multipart(("image", image_bytes(), True), ("mask", mask_bytes(), True),
                      ("prompt", prompt.encode(), False))
    response = api.client.post("/api/v1/inpaint", headers=api.headers, data=body,
                               content_type="multipart/form-data; boundary=b")
    assert response.status_code == 202, response.get_json()
    job = api.get(f"/jobs/{response.get_json()['job_id']}").get_json()
    assert job["params"]["prompt"] == prompt
    invalid = _multipart(("image", image_bytes(), True), ("mask", mask_bytes(), True),
                         ("prompt", b"a sign that reads \xff", False))
    refused = api.client.post("/api/v1/inpaint", headers=api.headers, data=invalid,
                              content_type="multipart/form-data; boundary=b")
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "invalid_encoding"


def test_insufficient_credits_is_402_after_validation(app, make_user, api_for):
    user = make_user(credits=1)
    caller = api_for(user)
    assert caller.submit("upscale", b"junk", scale=4).status_code == 422  # 422 comes before 402
    response = caller.submit("upscale", image_bytes(), scale=4)
    assert response.status_code == 402
    assert response.get_json()["error"]["code"] == "insufficient_credits"
    assert balance(caller.user) == 1 and queued_count(app) == 0


def test_inpaint_without_a_diffusion_model_is_503_and_free(app, api):
    response = api.submit("inpaint", image_bytes(), mask_bytes(), prompt="a cat")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert "pixelforge models pull sd-inpainting" in error["message"]
    assert balance(api.user) == 10 and queued_count(app) == 0


def test_no_live_worker_is_503_and_free(app, api):
    app.config["REQUIRE_LIVE_WORKER"] = True
    response = api.submit("enhance", image_bytes())
    assert response.status_code == 503
    assert "worker" in response.get_json()["error"]["message"]
    assert balance(api.user) == 10


def test_queue_unreachable_is_503_and_free(app, api):
    from pixelforge.queue import connect_redis

    app.extensions["pixelforge.redis"] = connect_redis("redis://127.0.0.1:9")
    response = api.submit("enhance", image_bytes())
    assert response.status_code == 503
    assert balance(api.user) == 10
    assert math.isfinite(float(response.headers["Retry-After"]))


def test_thousand_frame_gif_is_refused_quickly(api):
    frames = [Image.new("P", (4, 4), i % 256) for i in range(1000)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    response = api.submit("enhance", buffer.getvalue())
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "unsupported_format"
    assert "GIF" in response.get_json()["error"]["message"]


def test_background_model_that_is_not_installed_is_503(api):
    response = api.submit("remove-background", image_bytes(), model="u2net", alpha_matting="true")
    assert response.status_code == 503
    assert "pixelforge models pull rembg-u2net" in response.get_json()["error"]["message"]
    assert api.user.credits == 10


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_truncated_jpeg_and_webp_are_422(api, fmt):
    whole = image_bytes(64, 64, fmt=fmt)
    response = api.submit("enhance", whole[: len(whole) * 2 // 3])
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "corrupt_image"


def test_mask_matches_the_oriented_image(api):
    """A phone photo stored landscape with an EXIF 'rotate 90°' needs a portrait mask."""
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = image_bytes(32, 24, fmt="JPEG", exif=exif.tobytes())
    assert api.submit("erase-object", photo, mask_bytes(32, 24)).status_code == 422
    assert api.submit("erase-object", photo, mask_bytes(24, 32, box=(4, 4, 12, 12))).status_code == 202


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_grey_rgb_and_alpha_masks_are_accepted_and_thresholded(app, api, mode):
    from pixelforge.images import decode_mask

    array = np.zeros((24, 32, 4), np.uint8)
    array[..., 3] = 255
    array[6:16, 8:20, :3] = 200  # light grey: above the threshold
    array[0:4, 0:4, :3] = 100  # dark grey: below it
    if mode == "RGBA":  # the mask lives in alpha: transparent = keep, opaque = change
        array[..., :3] = 0
        array[..., 3] = 0
        array[6:16, 8:20, 3] = 255
        array[0:4, 0:4, 3] = 100
    image = Image.fromarray(array, "RGBA").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert api.submit("erase-object", image_bytes(), buffer.getvalue()).status_code == 202
    mask = np.asarray(decode_mask(buffer.getvalue(), (32, 24)))
    assert set(np.unique(mask)) == {0, 255}
    assert mask[10, 10] == 255 and mask[1, 1] == 0 and mask.sum() == 255 * 10 * 12


@pytest.mark.parametrize("size", [(1, 1), (7, 3)])
def test_a_webp_smaller_than_eight_pixels_is_accepted_not_a_500(api, size):
    """Found by schemathesis: the 1/8-scale check made OpenCV assert on a WebP under 8 px (a 500)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, format="WEBP", lossless=True)
    response = api.submit("upscale", buffer.getvalue(), scale=2)
    assert response.status_code == 202, response.get_json()
