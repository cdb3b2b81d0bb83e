"""Classical face restoration: find faces with an LBP cascade, denoise and sharpen them, blend back softly.

Fidelity follows the model-based restorers' meaning ("how much of the original to keep"): the restored face is
blended over the original with weight (1 - fidelity). fidelity=1 returns the input pixel for pixel, fidelity=0
applies the full restoration. OpenCV 5 ships no Haar cascades, so detection uses scikit-image's bundled LBP
frontal-face cascade. A photo with no face is refused (NoFaceFound: the job fails and is refunded) rather than
charged for a whole-image clean-up it did not ask for; without the cascade, the engine fails instead of guessing.

The cascade alone also answers to helmets, flags, fur and brickwork, so a detection counts as a face only when many
overlapping windows agree (MIN_NEIGHBOURS), when its middle is mostly skin-coloured (or, where colour cannot tell,
as in black and white or sepia, when it shows a face's fine detail), and when it is not a small box hanging on a
bigger face (a forehead or a chin found again). bench/fidelity.py measures the
precision on scikit-image's photos.
"""
from __future__ import annotations

import functools
import logging

import cv2
import numpy as np

from workers.engines.base import EngineError, EngineInput, EngineOutput, NoFaceFound
from workers.engines.pixels import blend, join_rgb_alpha, split_rgb_alpha, to_uint8, unsharp_mask

log = logging.getLogger(__name__)

# The cascade is pure Python/Cython and slow; faces smaller than ~5% of a 512 px copy are too small to restore.
DETECT_MAX_SIDE = 512
DETECT_MIN_FACE = 24
# The detected square covers brows to mouth; grow it to take in the whole face and some hair and chin.
FACE_BOX_GROWTH = 0.25
# A detection that lies this much (share of its own area) inside a bigger one is the same face.
DUPLICATE_OVERLAP = 0.5
# Overlapping cascade windows that must agree on a face (scikit-image's default, 4, lets textures through).
MIN_NEIGHBOURS = 8
# In a colour photo, at least this share of a face's middle must be skin-coloured (YCrCb box of Chai & Ngan,
# which covers light to dark skin); below GREY_CHROMA mean chroma the photo is treated as black and white.
SKIN_SHARE = 0.4
SKIN_CR, SKIN_CB, SKIN_MIN_LUMA = (133, 173), (77, 127), 40
GREY_CHROMA = 4.0
# Where colour cannot tell (black and white, sepia, or a photo mostly skin-coloured anyway), a face must show
# detail for its contrast: eyes, brows, nostrils and mouth give a mean gradient (Sobel, on a 48 px grey copy) of
# at least FACE_DETAIL times its standard deviation; a smooth highlight or blob has about half that.
MOSTLY_SKIN = 0.6
FACE_DETAIL = 1.5
DETAIL_SIDE = 48
# A box less than half a face's size whose centre lies within this many of that face's widths of it is part of it.
PART_OF_FACE_REACH = 1.0
# Inside this share of the ellipse radius the restored face is used fully; it fades out towards the rim.
FEATHER_START = 0.7
# Non-local-means strength h as a share of the estimated noise sigma, within bounds.
DENOISE_PER_NOISE_SIGMA = 0.7
DENOISE_RANGE = (3.0, 12.0)
FACE_SHARPEN_AMOUNT = 0.3


@functools.lru_cache(maxsize=1)
def _face_cascade():
    """scikit-image's LBP frontal-face cascade, loaded once per worker process, or None if unavailable."""
    try:
        from skimage import data
        from skimage.feature import Cascade

        return Cascade(data.lbp_frontal_face_cascade_filename())
    except (ImportError, AttributeError, OSError) as error:
        log.warning("face cascade unavailable; classical restore-face jobs will fail: %s", error)
        return None


def classical_restore_face(inp: EngineInput) -> EngineOutput:
    """Restore detected faces, keeping `fidelity` (0..1) of the original; NoFaceFound when there is none."""
    fidelity = _read_fidelity(inp.params)
    strength = 1.0 - fidelity
    rgb, alpha = split_rgb_alpha(inp.image)
    cascade = _face_cascade()
    if cascade is None:
        raise EngineError("face detection is unavailable on this worker (scikit-image's face cascade is missing)")
    faces = _detect_faces(cascade, rgb)
    if not faces:
        raise NoFaceFound()
    inp.progress(0.4)

    info = {"faces_detected": len(faces), "detector": "lbp_cascade"}
    if strength <= 0.0:
        inp.progress(1.0)
        return EngineOutput(image=inp.image.copy(), engine="classical", model=None, info={**info, "restored": "none"})

    restored = rgb.copy()
    for index, box in enumerate(faces):
        _restore_face_region(restored, box, strength)
        inp.progress(0.4 + 0.6 * (index + 1) / len(faces))
    inp.progress(1.0)
    info["restored"] = "faces"
    return EngineOutput(image=join_rgb_alpha(restored, alpha), engine="classical", model=None, info=info)


def _read_fidelity(params: dict) -> float:
    """params["fidelity"] as a float clipped to [0, 1]; 0.5 when absent."""
    try:
        fidelity = float(params.get("fidelity", 0.5))
    except (TypeError, ValueError) as error:
        raise EngineError(f"fidelity must be a number between 0 and 1, got {params.get('fidelity')!r}") from error
    if not np.isfinite(fidelity):
        raise EngineError("fidelity must be a finite number between 0 and 1")
    return float(np.clip(fidelity, 0.0, 1.0))


def _detect_faces(cascade, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x0, y0, x1, y1) in full-resolution pixels, found on a downscaled grey copy."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    height, width = grey.shape
    factor = min(1.0, DETECT_MAX_SIDE / max(height, width))
    if factor < 1.0:
        grey = cv2.resize(grey, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA)
    side = min(grey.shape)
    if side < DETECT_MIN_FACE:
        return []
    found = cascade.detect_multi_scale(
        img=grey, scale_factor=1.2, step_ratio=1, min_size=(DETECT_MIN_FACE, DETECT_MIN_FACE),
        max_size=(side, side), min_neighbor_number=MIN_NEIGHBOURS,
    )
    boxes = [
        (
            round(face["c"] / factor),
            round(face["r"] / factor),
            round((face["c"] + face["width"]) / factor),
            round((face["r"] + face["height"]) / factor),
        )
        for face in found
    ]
    judge_by_skin = _skin_tells_faces(rgb)
    boxes = [box for box in boxes if (_looks_like_skin(rgb, box) if judge_by_skin else _has_face_detail(rgb, box))]
    return _drop_parts_of_faces(_drop_duplicate_boxes(boxes))


def _is_skin(rgb: np.ndarray) -> np.ndarray:
    """Which pixels are skin-coloured (a YCrCb box that covers light to dark skin), as a flat bool array."""
    ycrcb = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.int16)
    luma, cr, cb = ycrcb[:, 0], ycrcb[:, 1], ycrcb[:, 2]
    return ((cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
            & (luma >= SKIN_MIN_LUMA))


def _skin_tells_faces(rgb: np.ndarray) -> bool:
    """Colour can single out faces: the photo has colour, and not skin colour nearly everywhere (sepia)."""
    step = max(1, round((rgb.shape[0] * rgb.shape[1] / 65536) ** 0.5))  # ~64k pixels are plenty
    sample = np.ascontiguousarray(rgb[::step, ::step])
    chroma = cv2.cvtColor(sample, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.float32) - 128.0
    return float(np.abs(chroma).mean()) >= GREY_CHROMA and float(_is_skin(sample).mean()) < MOSTLY_SKIN


def _looks_like_skin(rgb: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """The middle of the box is mostly skin-coloured."""
    x0, y0, x1, y1 = box
    inset_x, inset_y = (x1 - x0) // 5, (y1 - y0) // 5
    middle = rgb[y0 + inset_y:y1 - inset_y, x0 + inset_x:x1 - inset_x]
    return middle.size > 0 and float(_is_skin(middle).mean()) >= SKIN_SHARE


def _has_face_detail(rgb: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """The box holds a face's fine detail for its contrast (see FACE_DETAIL), not a smooth highlight."""
    x0, y0, x1, y1 = box
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    if grey.size == 0:
        return False
    patch = cv2.resize(grey, (DETAIL_SIDE, DETAIL_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    gradient = np.hypot(cv2.Sobel(patch, cv2.CV_32F, 1, 0), cv2.Sobel(patch, cv2.CV_32F, 0, 1))
    return float(gradient.mean()) >= FACE_DETAIL * (float(patch.std()) + 1.0)


def _drop_parts_of_faces(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Drop a box less than half the size of another whose centre lies close to it: the cascade's second find
    of a forehead or chin next to the whole face, not a second face (faces side by side are of a size)."""
    kept = []
    for box in boxes:
        width = box[2] - box[0]
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        part_of = any(
            width < 0.5 * (other[2] - other[0])
            and abs(centre[0] - (other[0] + other[2]) / 2) <= PART_OF_FACE_REACH * (other[2] - other[0])
            and abs(centre[1] - (other[1] + other[3]) / 2) <= PART_OF_FACE_REACH * (other[3] - other[1])
            for other in boxes
        )
        if not part_of:
            kept.append(box)
    return kept


def _drop_duplicate_boxes(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Keep the larger of two boxes that mostly overlap: the cascade can report one face at two scales,
    and restoring it twice would double the effect."""
    kept: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True):
        area = (box[2] - box[0]) * (box[3] - box[1])
        overlaps = (
            max(0, min(box[2], other[2]) - max(box[0], other[0]))
            * max(0, min(box[3], other[3]) - max(box[1], other[1]))
            for other in kept
        )
        if all(overlap <= DUPLICATE_OVERLAP * area for overlap in overlaps):
            kept.append(box)
    return kept


def _restore_face_region(image: np.ndarray, box: tuple[int, int, int, int], strength: float) -> None:
    """Denoise and sharpen one face in place, blended in through a feathered ellipse weighted by strength."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    grow_x, grow_y = round((x1 - x0) * FACE_BOX_GROWTH), round((y1 - y0) * FACE_BOX_GROWTH)
    x0, y0 = max(0, x0 - grow_x), max(0, y0 - grow_y)
    x1, y1 = min(width, x1 + grow_x), min(height, y1 + grow_y)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return
    region = np.ascontiguousarray(image[y0:y1, x0:x1])
    # Filter strength follows the measured noise: a clean face keeps its detail, a grainy one is smoothed.
    noise_sigma = _noise_sigma(region)
    strength_h = float(np.clip(DENOISE_PER_NOISE_SIGMA * noise_sigma, *DENOISE_RANGE))
    # Smaller windows than OpenCV's defaults (7/21): about 2x faster on big faces, barely different on skin.
    denoised = cv2.fastNlMeansDenoisingColored(region, None, strength_h, strength_h, 5, 15)
    sigma = max(1.0, min(region.shape[:2]) / 150.0)
    # Noise the filter left behind must not be sharpened back: the coring floor follows the noise level.
    sharpened = _sharpen_luma(denoised, sigma, FACE_SHARPEN_AMOUNT, noise_floor=max(2.0, 0.5 * noise_sigma))
    image[y0:y1, x0:x1] = blend(region, sharpened, _feathered_ellipse(y1 - y0, x1 - x0) * strength)


def _noise_sigma(rgb: np.ndarray) -> float:
    """Immerkaer's fast estimate of the grey-level noise standard deviation (texture inflates it a little)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if min(grey.shape) < 3:
        return 0.0
    laplacian_difference = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(grey, -1, laplacian_difference)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2.0) * np.abs(response).mean() / 6.0)


def _feathered_ellipse(height: int, width: int) -> np.ndarray:
    """HxW weights: 1 inside FEATHER_START of the inscribed ellipse, easing to 0 at its rim (smoothstep)."""
    rows = (np.arange(height, dtype=np.float32) + 0.5 - height / 2.0) / (height / 2.0)
    cols = (np.arange(width, dtype=np.float32) + 0.5 - width / 2.0) / (width / 2.0)
    distance = np.sqrt(rows[:, None] ** 2 + cols[None, :] ** 2)
    ramp = np.clip((1.0 - distance) / (1.0 - FEATHER_START), 0.0, 1.0)
    return ramp * ramp * (3.0 - 2.0 * ramp)


def _sharpen_luma(rgb: np.ndarray, sigma: float, amount: float, noise_floor: float = 2.0) -> np.ndarray:
    """Unsharp-mask the luminance only, so sharpening adds no colour fringes."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    ycrcb[..., 0] = to_uint8(unsharp_mask(ycrcb[..., 0], sigma=sigma, amount=amount, noise_floor=noise_floor))
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
