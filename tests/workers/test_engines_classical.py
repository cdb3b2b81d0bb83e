"""The classical engines on tiny synthetic images: sizes and modes, alpha handling, and that each one does its job."""
import numpy as np
import pytest
from PIL import Image

from workers.engines import restore_face
from workers.engines.background import classical_remove_background
from workers.engines.base import EngineError, EngineInput, NoFaceFound
from workers.engines.enhance import classical_enhance
from workers.engines.erase import classical_erase
from workers.engines.restore_face import classical_restore_face
from workers.engines import upscale as upscale_module
from workers.engines.upscale import classical_upscale, upscale_in_strips


# ---------------------------------------------------------------- synthetic images


def smooth_pattern(size: int = 96) -> np.ndarray:
    """Sinusoids plus a hard-edged disk: smooth areas and sharp edges, like a photo."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    rgb = np.dstack(
        [128 + 100 * np.sin(xx / 5.0), 128 + 100 * np.cos(yy / 7.0), 128 + 80 * np.sin((xx + yy) / 9.0)]
    )
    disk = (xx - size / 2) ** 2 + (yy - size / 2) ** 2 <= (size / 5) ** 2
    rgb[disk] = (250, 30, 30)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def gradient(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    rgb = np.dstack([40 + 2 * xx, 60 + 1.5 * yy, 200 - xx - 0.5 * yy])
    return np.clip(rgb, 0, 255).astype(np.uint8)


def disk_on_texture(size: int, centre: tuple[int, int] | None = None, seed: int = 1) -> np.ndarray:
    """A magenta disk on a greenish noisy texture."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3)).astype(np.uint8), (0, 0), 1.0)
    rgb = (noise * 0.5 + np.array([0, 90, 40])).astype(np.uint8)
    cx, cy = centre or (size // 2, size // 2)
    cv2.circle(rgb, (cx, cy), max(1, size // 4), (230, 40, 200), -1)
    return rgb


def noisy(rgb: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rgb.astype(np.float64) + rng.normal(0, sigma, rgb.shape), 0, 255).astype(np.uint8)


def face_crop(size: int = 160) -> np.ndarray:
    """The astronaut's face (bundled with scikit-image), shrunk so detection stays fast."""
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut()[0:256, 80:336], (size, size), interpolation=cv2.INTER_AREA)


def with_alpha(rgb: np.ndarray, alpha: np.ndarray) -> Image.Image:
    return Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA")


def run(engine, image, params=None, mask=None, progress=None):
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    kwargs = {"progress": progress} if progress else {}
    return engine(EngineInput(image=image, params=params or {}, mask=mask, **kwargs))


def pixels(output) -> np.ndarray:
    return np.array(output.image).astype(np.int32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


ALL_ENGINES = [
    (classical_upscale, {"scale": 2}),
    (classical_enhance, {}),
    (classical_remove_background, {"format": "png"}),
    (classical_restore_face, {"fidelity": 0.3}),
]


@pytest.mark.parametrize("engine, params", ALL_ENGINES)
def test_engines_report_classical_and_progress(engine, params):
    seen = []
    image = face_crop(96) if engine is classical_restore_face else smooth_pattern(48)  # no face, no job
    out = run(engine, image, params, progress=seen.append)
    assert (out.engine, out.model) == ("classical", None)
    assert seen and seen[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in seen)


@pytest.mark.parametrize("engine, params", ALL_ENGINES)
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (7, 1), (5, 17)])
def test_engines_survive_tiny_images(engine, params, size):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)
    if engine is classical_restore_face:  # no room for a face: refused by name, not a crash
        with pytest.raises(NoFaceFound):
            run(engine, image, params)
        return
    out = run(engine, image, params)
    assert out.image.size[0] >= size[0] and out.image.size[1] >= size[1]


# ---------------------------------------------------------------- upscale


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_upscale_size_and_mode(scale, mode):
    image = Image.fromarray(smooth_pattern(40)[:, :30]).convert(mode)
    out = run(classical_upscale, image, {"scale": scale})
    assert out.image.size == (30 * scale, 40 * scale)
    assert out.image.mode == mode
    assert out.info == {"scale": scale}


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_resamples_alpha_without_touching_its_flat_areas(scale):
    alpha = np.zeros((32, 32), np.uint8)
    alpha[:, 16:] = 255
    out = pixels(run(classical_upscale, with_alpha(smooth_pattern(32), alpha), {"scale": scale}))
    upscaled_alpha = out[..., 3]
    assert upscaled_alpha.shape == (32 * scale, 32 * scale)
    assert (upscaled_alpha[:, : 12 * scale] == 0).all()
    assert (upscaled_alpha[:, 20 * scale :] == 255).all()
    # The edge is a resampled ramp, not a copy of nearest-neighbour blocks.
    assert len(np.unique(upscaled_alpha)) > 2


@pytest.mark.parametrize("scale, margin_db", [(2, 2.0), (4, 3.0)])
def test_upscale_beats_nearest_and_bilinear_on_a_downscaled_pattern(scale, margin_db):
    import cv2

    truth = smooth_pattern(96)
    small = cv2.resize(truth, (96 // scale, 96 // scale), interpolation=cv2.INTER_AREA)
    ours = pixels(run(classical_upscale, small, {"scale": scale}))
    nearest = cv2.resize(small, (96, 96), interpolation=cv2.INTER_NEAREST)
    bilinear = cv2.resize(small, (96, 96), interpolation=cv2.INTER_LINEAR)
    assert psnr(ours, truth) > psnr(nearest, truth) + margin_db
    assert psnr(ours, truth) > psnr(bilinear, truth)


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_beats_lanczos_on_a_photo(scale):
    """#18: the classical upscale must do better than plain Lanczos, which it used to tie."""
    import cv2

    original = photo("astronaut")
    small = cv2.resize(original, (512 // scale, 512 // scale), interpolation=cv2.INTER_AREA)
    ours = pixels(run(classical_upscale, small, {"scale": scale})).astype(np.uint8)
    lanczos = cv2.resize(small, (512, 512), interpolation=cv2.INTER_LANCZOS4)
    assert psnr(ours, original) > psnr(lanczos, original) + 0.2
    assert ssim(ours, original) > ssim(lanczos, original)


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_sharpening_draws_no_halos_at_a_hard_edge(scale):
    step = np.full((24, 24, 3), 64, np.uint8)
    step[:, 12:] = 192
    out = pixels(run(classical_upscale, step, {"scale": scale}))
    assert out.min() >= 62 and out.max() <= 194


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("strip_rows", [1, 5, 16])
def test_upscale_in_strips_equals_the_whole_image_at_once(scale, strip_rows):
    # Hard edges and texture cross every strip boundary; strips shorter than their context are allowed too.
    rgb = disk_on_texture(48)[:, :40]
    alpha = np.ascontiguousarray(smooth_pattern(48)[:, :40, 0])
    whole = upscale_in_strips(rgb, alpha, scale, strip_rows=48)
    assert whole.shape == (48 * scale, 40 * scale, 4)
    assert np.array_equal(upscale_in_strips(rgb, alpha, scale, strip_rows), whole)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_upscale_engine_output_does_not_depend_on_the_strip_height(monkeypatch, mode):
    image = with_alpha(disk_on_texture(40), smooth_pattern(40)[..., 1]).convert(mode)
    whole = pixels(run(classical_upscale, image, {"scale": 4}))  # 40 x 40 px: one strip
    monkeypatch.setattr(upscale_module, "STRIP_PIXELS", 40 * 6)  # 6 rows per strip
    seen = []
    strips = run(classical_upscale, image, {"scale": 4}, progress=seen.append)
    assert strips.image.mode == mode and np.array_equal(pixels(strips), whole)
    assert len(seen) == 7 and seen == sorted(seen) and seen[-1] == 1.0


@pytest.mark.parametrize("scale", [3, 1, 8, "2", None, True])
def test_upscale_refuses_unsupported_scales(scale):
    with pytest.raises(EngineError, match="scale"):
        run(classical_upscale, smooth_pattern(16), {"scale": scale})


# ---------------------------------------------------------------- enhance


def mean_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def test_enhance_brings_a_hazy_colour_cast_pattern_closer_to_the_truth():
    truth = smooth_pattern(64)
    cast = np.clip((truth * 0.35 + 90) * np.array([1.2, 1.0, 0.7]), 0, 255).astype(np.uint8)
    out = run(classical_enhance, cast)
    fixed = pixels(out).astype(np.uint8)
    assert mean_delta_e(fixed, truth) < 0.75 * mean_delta_e(cast, truth)
    before_range = np.subtract(*np.percentile(cast.mean(axis=2), [99, 1]))
    after_range = np.subtract(*np.percentile(fixed.mean(axis=2), [99, 1]))
    assert after_range > 1.3 * before_range
    gains = out.info["white_balance_gains"]
    assert gains[0] < 1.0 < gains[2]
    assert {"white_balance", "levels"} <= set(out.info["corrections"])


def photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled sample pictures as RGB (grey ones repeated into three channels)."""
    from skimage import data

    picture = getattr(data, name)()
    return np.dstack([picture] * 3) if picture.ndim == 2 else picture


def linear(rgb: np.ndarray) -> np.ndarray:
    values = rgb / 255.0
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def srgb(light: np.ndarray) -> np.ndarray:
    light = np.clip(light, 0, 1)
    encoded = np.where(light <= 0.0031308, 12.92 * light, 1.055 * light ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(encoded * 255), 0, 255).astype(np.uint8)


DEGRADE = {  # what bench/fidelity.py does to the sample photos, here on one of them
    "darkened": lambda rgb: srgb(linear(rgb) * 0.35),
    "low_contrast": lambda rgb: np.clip(np.rint(rgb * 0.6 + 0.4 * 128), 0, 255).astype(np.uint8),
    "warm_cast": lambda rgb: srgb(linear(rgb) * np.array([1.0, 0.78, 0.45])),
    "cool_cast": lambda rgb: srgb(linear(rgb) * np.array([0.45, 0.78, 1.0])),
    "noisy": lambda rgb: noisy(rgb, 12, seed=1),
}


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_enhance_leaves_a_well_exposed_warm_photo_nearly_unchanged(name):
    """#18: gray-world gains [0.81, 1.08, 1.18] turned the astronaut's warm scene blue-grey."""
    original = photo(name)
    out = run(classical_enhance, original)
    assert out.info["white_balance_gains"] == [1.0, 1.0, 1.0]
    assert mean_delta_e(pixels(out).astype(np.uint8), original) <= 2.0


@pytest.mark.parametrize("degradation", sorted(DEGRADE))
def test_enhance_moves_a_degraded_photo_closer_to_its_original(degradation):
    original = photo("astronaut")
    degraded = DEGRADE[degradation](original)
    enhanced = pixels(run(classical_enhance, degraded)).astype(np.uint8)
    assert mean_delta_e(enhanced, original) < mean_delta_e(degraded, original)
    assert ssim(enhanced, original) >= ssim(degraded, original)


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (128, 128, 128), (200, 0, 0), (10, 20, 250)])
def test_enhance_is_safe_on_flat_images(colour):
    flat = np.full((32, 40, 3), colour, np.uint8)
    out = run(classical_enhance, flat)
    result = pixels(out)
    assert out.image.size == (40, 32) and out.image.mode == "RGB"
    assert np.ptp(result.reshape(-1, 3), axis=0).max() == 0  # still flat
    # and still the same colour (the saturation boost may clip an already saturated one a little)
    assert np.abs(result[0, 0] - np.array(colour)).max() <= 24
    assert out.info["white_balance_gains"] == [1.0, 1.0, 1.0]


def test_enhance_bounds_white_balance_on_a_single_colour_scene():
    rng = np.random.default_rng(3)
    reds = np.clip(np.array([190, 40, 30]) + rng.normal(0, 12, (32, 32, 3)), 0, 255).astype(np.uint8)
    out = run(classical_enhance, reds)
    assert all(0.67 <= g <= 1.5 for g in out.info["white_balance_gains"])
    assert pixels(out)[..., 0].mean() > pixels(out)[..., 2].mean() + 60  # still a red scene


def test_enhance_keeps_alpha():
    alpha = np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))
    out = run(classical_enhance, with_alpha(smooth_pattern(48), alpha))
    assert out.image.mode == "RGBA"
    assert np.array_equal(np.array(out.image)[..., 3], alpha)


# ---------------------------------------------------------------- erase


def red_square_scene():
    scene = gradient(64)
    scene[24:40, 24:40] = (255, 0, 0)
    mask = np.zeros((64, 64), np.uint8)
    mask[22:42, 22:42] = 255
    return scene, Image.fromarray(mask, "L")


def test_erase_fills_the_masked_object_from_its_surroundings():
    scene, mask = red_square_scene()
    out = run(classical_erase, scene, mask=mask)
    filled = pixels(out)[24:40, 24:40]
    background = gradient(64)[24:40, 24:40].astype(np.int32)
    assert np.abs(filled - background).mean() < 12
    assert np.abs(filled - np.array([255, 0, 0])).mean() > 80
    assert out.info == {"mask_pixels": 400}


def test_erase_leaves_pixels_away_from_the_mask_untouched():
    scene, mask = red_square_scene()
    out = pixels(run(classical_erase, scene, mask=mask))
    far = np.ones((64, 64), bool)
    far[14:50, 14:50] = False  # the mask plus more than its growth margin
    assert np.array_equal(out[far], scene[far])


def test_erase_keeps_alpha_and_mode():
    scene, mask = red_square_scene()
    alpha = np.full((64, 64), 200, np.uint8)
    alpha[:8] = 0
    out = run(classical_erase, with_alpha(scene, alpha), mask=mask)
    assert out.image.mode == "RGBA"
    assert np.array_equal(np.array(out.image)[..., 3], alpha)


def test_erase_with_an_empty_mask_changes_nothing():
    scene, _ = red_square_scene()
    out = run(classical_erase, scene, mask=Image.new("L", (64, 64), 0))
    assert np.array_equal(pixels(out), scene)
    assert out.info == {"mask_pixels": 0}


@pytest.mark.parametrize(
    "mask, message",
    [
        (None, "needs a mask"),
        (Image.new("L", (32, 64), 255), "must match"),
        (Image.new("L", (64, 64), 255), "whole image"),
    ],
)
def test_erase_refuses_impossible_masks(mask, message):
    scene, _ = red_square_scene()
    with pytest.raises(EngineError, match=message):
        run(classical_erase, scene, mask=mask)


# ---------------------------------------------------------------- background removal


@pytest.mark.parametrize("size", [96, 48, 16])
def test_background_removal_keeps_the_disk_and_drops_the_texture(size):
    out = run(classical_remove_background, disk_on_texture(size), {"format": "webp"})
    alpha = pixels(out)[..., 3]
    assert out.image.mode == "RGBA" and out.image.size == (size, size)
    assert alpha[size // 2, size // 2] >= 230
    assert max(alpha[0, 0], alpha[0, -1], alpha[-1, 0], alpha[-1, -1]) <= 25
    disk_share = np.pi / 16
    assert out.info["foreground_fraction"] == pytest.approx(disk_share, abs=0.06)


def test_background_removal_gives_soft_edges_and_exact_colours():
    image = disk_on_texture(96)
    out = pixels(run(classical_remove_background, image))
    alpha = out[..., 3]
    assert ((alpha > 20) & (alpha < 235)).sum() > 20  # anti-aliased rim, not a hard cut
    assert np.array_equal(out[..., :3], image)


def test_background_removal_keeps_a_subject_cut_by_the_frame():
    out = pixels(run(classical_remove_background, disk_on_texture(96, centre=(48, 84), seed=2)))
    alpha = out[..., 3]
    assert alpha[-1, 40:56].min() >= 200  # the disk reaches the bottom edge, so does the cut-out
    assert alpha[0, 0] <= 25 and alpha[80, 48] >= 230


def two_tone(height: int = 40, width: int = 40) -> np.ndarray:
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, width // 2 :] = 255
    return rgb


@pytest.mark.parametrize("rgb", [np.full((30, 50, 3), 9, np.uint8), two_tone()], ids=["uniform", "two_tone"])
def test_background_removal_without_a_subject_keeps_the_image_opaque(rgb):
    out = run(classical_remove_background, rgb)
    assert (pixels(out)[..., 3] == 255).all()
    assert out.info["foreground_fraction"] == 1.0


def test_background_removal_keeps_transparent_pixels_transparent():
    alpha = np.full((64, 64), 255, np.uint8)
    alpha[28:36, 28:36] = 0  # a hole in the middle of the subject
    out = pixels(run(classical_remove_background, with_alpha(disk_on_texture(64), alpha)))
    assert (out[28:36, 28:36, 3] == 0).all()
    assert out[24, 24, 3] >= 230


def test_background_removal_keeps_the_astronauts_dark_helmet_and_neck():
    """#18: GrabCut cut a hole at her neck and dropped the black helmet she holds (both kept by U^2-Net)."""
    alpha = pixels(run(classical_remove_background, photo("astronaut")))[..., 3]
    assert alpha[440:500, 250:330].mean() > 200  # the black helmet
    assert alpha[185:215, 200:250].mean() > 200  # her neck and the dark collar
    assert alpha[:80, :60].mean() < 50  # the flag behind her


def test_background_removal_is_repeatable():
    image = disk_on_texture(64, seed=5)
    first = pixels(run(classical_remove_background, image))
    assert np.array_equal(first, pixels(run(classical_remove_background, image)))


# ---------------------------------------------------------------- face restoration


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_restore_face_fidelity_one_returns_the_input_exactly(mode):
    source = Image.fromarray(face_crop(128)).convert(mode)
    out = run(classical_restore_face, source, {"fidelity": 1.0})
    assert out.image.mode == mode
    assert np.array_equal(np.array(out.image), np.array(source))
    assert out.info["restored"] == "none"


def coffee(width: int = 200) -> np.ndarray:
    """scikit-image's cup of coffee: a photo with no face in it."""
    import cv2
    from skimage import data

    photo = data.coffee()
    return cv2.resize(photo, (width, round(photo.shape[0] * width / photo.shape[1])), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("image", [coffee(), noisy(np.full((64, 64, 3), (120, 100, 90), np.uint8), 10)],
                         ids=["coffee", "flat"])
@pytest.mark.parametrize("fidelity", [0.0, 0.5, 1.0])
def test_restore_face_without_a_face_is_refused_by_name(image, fidelity):
    """#12 finding 14: nothing to restore is a failure (refunded), not a charged whole-image clean-up."""
    with pytest.raises(NoFaceFound, match="no face") as raised:
        run(classical_restore_face, image, {"fidelity": fidelity})
    assert raised.value.code == "no_face_found"


def test_restore_face_finds_the_astronauts_face_and_nothing_else():
    """#18: the cascade also answered to her helmet and the flag patch; one face is what the photo has."""
    out = run(classical_restore_face, photo("astronaut"), {"fidelity": 0.5})
    assert out.info["faces_detected"] == 1


@pytest.mark.parametrize("name", ["hubble_deep_field", "brick", "grass"])
def test_restore_face_finds_no_face_in_textures_the_cascade_used_to_take_for_faces(name):
    with pytest.raises(NoFaceFound):
        run(classical_restore_face, photo(name))


def test_restore_face_finds_and_denoises_a_real_face():
    clean = face_crop(160)
    grainy = noisy(clean, 12)
    out = run(classical_restore_face, grainy, {"fidelity": 0.0})
    assert out.info["faces_detected"] == 1 and out.info["restored"] == "faces"
    result = pixels(out)
    centre = (slice(60, 100), slice(70, 110))
    error_before = np.abs(grainy[centre].astype(np.int32) - clean[centre]).mean()
    assert np.abs(result[centre] - clean[centre]).mean() < 0.9 * error_before
    # Only the face is touched: the corners keep their grain.
    assert np.array_equal(result[:12, :12], grainy[:12, :12])


def test_restore_face_without_its_detector_fails_rather_than_guessing(monkeypatch):
    monkeypatch.setattr(restore_face, "_face_cascade", lambda: None)
    with pytest.raises(EngineError, match="face detection is unavailable") as raised:
        run(classical_restore_face, face_crop(96), {"fidelity": 0.0})
    assert not isinstance(raised.value, NoFaceFound)


@pytest.mark.parametrize("fidelity", ["very", None, float("nan")])
def test_restore_face_refuses_a_non_numeric_fidelity(fidelity):
    with pytest.raises(EngineError, match="fidelity"):
        run(classical_restore_face, face_crop(64), {"fidelity": fidelity})
