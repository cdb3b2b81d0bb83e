"""What the fidelity benchmark works on: scikit-image's bundled photos (no download), degraded copies of them, the
photos with known faces, and the measures (CIEDE2000, SSIM, PSNR, IoU)."""
from __future__ import annotations

import functools

import numpy as np

# label -> scikit-image loader; the well-exposed originals (bundled with scikit-image, public).
PHOTOS = {
    "astronaut": lambda data: data.astronaut(),
    "coffee": lambda data: data.coffee(),
    "chelsea": lambda data: data.chelsea(),
    "rocket": lambda data: data.rocket(),
    "motorcycle": lambda data: data.stereo_motorcycle()[0],
}
QUICK_PHOTOS = ("astronaut", "coffee")
# A face, where the photo has one: (x0, y0, x1, y1) in the original's pixels.
ASTRONAUT_FACE = (178, 63, 270, 175)
CAMERAMAN_FACE = (198, 120, 258, 196)


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """A bundled sample as HxWx3 uint8 (grey ones repeated into three channels)."""
    from skimage import data

    picture = PHOTOS[name](data) if name in PHOTOS else getattr(data, name)()
    if picture.ndim == 2:
        picture = np.dstack([picture] * 3)
    return np.ascontiguousarray(picture[..., :3])


def to_linear(rgb: np.ndarray) -> np.ndarray:
    values = rgb / 255.0
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def to_srgb(light: np.ndarray) -> np.ndarray:
    light = np.clip(light, 0.0, 1.0)
    encoded = np.where(light <= 0.0031308, 12.92 * light, 1.055 * light ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(encoded * 255.0), 0, 255).astype(np.uint8)


def add_noise(rgb: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    grain = np.random.default_rng(seed).normal(0.0, sigma, rgb.shape)
    return np.clip(rgb + grain, 0, 255).astype(np.uint8)


# What goes wrong with photos, each as a camera or a scan would do it: exposure 1.5 stops under (in linear light),
# a washed-out veil, tungsten light under a daylight white balance and the reverse, sensor noise.
DEGRADATIONS = {
    "darkened": lambda rgb: to_srgb(to_linear(rgb) * 0.35),
    "low_contrast": lambda rgb: np.clip(np.rint(rgb * 0.6 + 0.4 * 128), 0, 255).astype(np.uint8),
    "warm_cast": lambda rgb: to_srgb(to_linear(rgb) * np.array([1.0, 0.78, 0.45])),
    "cool_cast": lambda rgb: to_srgb(to_linear(rgb) * np.array([0.45, 0.78, 1.0])),
    "noisy": lambda rgb: add_noise(rgb, 12.0),
}


def mean_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference (1 is about the smallest difference one can see side by side)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def lfw_mosaics(count: int, per_side: int = 5, side: int = 96, gap: int = 24) -> list:
    """Held out from tuning: scikit-image's bundled Labeled Faces in the Wild subset (100 faces, 100 non-faces,
    25 x 25 grey), enlarged and laid out 5 x 5 on grey as group pictures, with their face boxes."""
    import cv2
    from skimage import data

    pictures = data.lfw_subset()
    cases = []
    for index in range(count):
        for label, first, has_faces in (("faces", 0, True), ("non-faces", 100, False)):
            width = per_side * (side + gap) + gap
            canvas = np.full((width, width), 128, np.uint8)
            boxes = []
            for k in range(per_side * per_side):
                row, column = divmod(k, per_side)
                y, x = gap + row * (side + gap), gap + column * (side + gap)
                picture = (pictures[first + index * per_side * per_side + k] * 255).astype(np.uint8)
                canvas[y:y + side, x:x + side] = cv2.resize(picture, (side, side), interpolation=cv2.INTER_CUBIC)
                boxes.append((x, y, x + side, y + side))
            cases.append((f"LFW {label} {index + 1} (held out)", np.dstack([canvas] * 3), boxes if has_faces else []))
    return cases


def face_set(quick: bool) -> list[tuple[str, np.ndarray, list[tuple[int, int, int, int]]]]:
    """(label, photo, known face boxes): photos with faces, variants of them, and photos and textures with none
    (the last include those the old cascade took for faces: the hubble field, brick and grass)."""
    import cv2

    astronaut = photo("astronaut")
    grey = cv2.cvtColor(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    x0, y0, x1, y1 = ASTRONAUT_FACE
    cases = [
        ("astronaut", astronaut, [ASTRONAUT_FACE]),
        ("astronaut mirrored", np.ascontiguousarray(astronaut[:, ::-1]), [(512 - x1, y0, 512 - x0, y1)]),
        ("astronaut at 256 px", cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA),
         [tuple(v // 2 for v in ASTRONAUT_FACE)]),
        ("astronaut, noisy", add_noise(astronaut, 12.0), [ASTRONAUT_FACE]),
        ("astronaut, darkened", DEGRADATIONS["darkened"](astronaut), [ASTRONAUT_FACE]),
        ("astronaut, black and white", grey, [ASTRONAUT_FACE]),
        ("astronaut, sepia", np.clip(grey * np.array([1.07, 0.95, 0.78]), 0, 255).astype(np.uint8),
         [ASTRONAUT_FACE]),
        ("cameraman (black and white)", photo("camera"), [CAMERAMAN_FACE]),
    ]
    cases += lfw_mosaics(1 if quick else 4)
    no_faces = ["coffee", "chelsea", "rocket", "motorcycle", "hubble_deep_field", "immunohistochemistry",
                "brick", "grass", "gravel", "coins"]
    for name in no_faces[:4] if quick else no_faces:
        cases.append((name, photo(name), []))
    if not quick:
        for name in ("coffee", "chelsea", "rocket"):
            for degradation in ("noisy", "darkened"):
                cases.append((f"{name}, {degradation}", DEGRADATIONS[degradation](photo(name)), []))
    return cases
