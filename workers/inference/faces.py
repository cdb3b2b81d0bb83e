"""Face geometry for restore-face: YuNet detection, alignment to GFPGAN's 512 template, feathered paste-back.

GFPGAN was trained on faces aligned by five landmarks to the FFHQ template (facexlib's 512x512 points);
we estimate a similarity transform (rotation, uniform scale, translation) from YuNet's landmarks to that
template with cv2.estimateAffinePartial2D, warp the face in, and warp the restored face back out through
a feathered mask so no seam shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FACE_SIZE = 512
# Eyes (image-left, image-right), nose tip, mouth corners (image-left, image-right) in the 512 aligned face.
FFHQ_TEMPLATE_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                              [201.26117, 371.41043], [313.08905, 371.15118]], np.float32)
BORDER_VALUE = (135, 133, 132)  # facexlib's fill outside the photo: a neutral grey, not black
MIN_FACE_PX = 12
MAX_FACES = 20
# YuNet finds faces of about 10-300 px in its input (OpenCV zoo's notes on the model), so one pass cannot serve
# both a group photo and a close-up portrait. The finest pass sees small photos enlarged to DETECT_LONG_SIDE (small
# faces are found better) and large ones as they are, up to DETECT_MAX_LONG_SIDE (cost; a face under ~10 px there
# is too small to restore); coarser passes at COARSE_LONG_SIDES find faces that fill much of the photo.
DETECT_LONG_SIDE = 640
DETECT_MAX_LONG_SIDE = 2560
COARSE_LONG_SIDES = (640, 320)
NMS_IOU = 0.3  # a face found in two passes is one face (YuNet's own NMS threshold)


@dataclass(frozen=True)
class Face:
    """One detection: box (x, y, w, h), five landmarks in template order, score."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float


def load_detector(path: Path, size: tuple[int, int] = (320, 320)):
    """OpenCV's YuNet (cv2.FaceDetectorYN); the input size is set per image. OpenCV 5 warns on every create that
    its new graph engine ignores the target the detector asks for (the CPU, which is what it runs on anyway): a line
    on the console of `models add` and in every worker log that says nothing to the user, so it is kept quiet."""
    import cv2
    from cv2.utils import logging as cv_logging

    level = cv_logging.getLogLevel()
    cv_logging.setLogLevel(min(level, cv_logging.LOG_LEVEL_ERROR))
    try:
        return cv2.FaceDetectorYN.create(str(path), "", size, 0.7, 0.3, 5000)
    finally:
        cv_logging.setLogLevel(level)


def order_landmarks(points: np.ndarray) -> np.ndarray:
    """Put the five points in the template's order (image-left before image-right for eyes and mouth)."""
    points = np.asarray(points, np.float32).reshape(5, 2)
    eyes, nose, mouth = points[:2], points[2:3], points[3:5]
    return np.vstack([eyes[np.argsort(eyes[:, 0])], nose, mouth[np.argsort(mouth[:, 0])]])


def detection_scales(width: int, height: int) -> list[float]:
    """The factors the image is resized by for each detection pass, finest first (see DETECT_LONG_SIDE)."""
    long_side = max(width, height)
    scales = [min(max(long_side, DETECT_LONG_SIDE), DETECT_MAX_LONG_SIDE) / long_side]
    for side in COARSE_LONG_SIDES:
        if side / long_side < scales[-1] * 0.75:  # only passes clearly coarser than the last one
            scales.append(side / long_side)
    return scales


def detect_faces(detector, rgb: np.ndarray) -> list[Face]:
    """Faces in an RGB uint8 image, largest first, at most MAX_FACES, none narrower than MIN_FACE_PX; every
    scale of detection_scales is searched and a face found at several is kept once (its best-scored find)."""
    import cv2

    height, width = rgb.shape[:2]
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    found: list[Face] = []
    for k in detection_scales(width, height):
        size = (max(1, round(width * k)), max(1, round(height * k)))
        interpolation = cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA
        scaled = bgr if size == (width, height) else cv2.resize(bgr, size, interpolation=interpolation)
        detector.setInputSize(size)
        _, rows = detector.detect(scaled)
        for row in rows if rows is not None else []:
            x, y, w, h = (float(v) / k for v in row[:4])
            if w >= MIN_FACE_PX:
                found.append(Face((x, y, w, h), order_landmarks(row[4:14] / k), float(row[14])))
    if len(found) > 1:
        keep = cv2.dnn.NMSBoxes([[round(v) for v in f.box] for f in found], [f.score for f in found], 0.0, NMS_IOU)
        found = [found[i] for i in np.asarray(keep, int).reshape(-1)]
    found.sort(key=lambda f: -f.box[2] * f.box[3])
    return found[:MAX_FACES]


def alignment_matrix(landmarks: np.ndarray, size: int = FACE_SIZE) -> np.ndarray | None:
    """2x3 similarity transform from image landmarks to the template (scaled to ``size``), or None."""
    import cv2

    template = FFHQ_TEMPLATE_512 * (size / FACE_SIZE)
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float32), template, method=cv2.LMEDS)
    return matrix


def warp_face(rgb: np.ndarray, matrix: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """The aligned size x size face crop."""
    import cv2

    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=BORDER_VALUE)


def face_weight(size: int = FACE_SIZE) -> np.ndarray:
    """Feathered weight over the aligned face: 1 in the middle, falling to 0 well inside the crop's edge."""
    import cv2

    margin = size // 16
    weight = np.zeros((size, size), np.float32)
    weight[margin:size - margin, margin:size - margin] = 1.0
    return cv2.GaussianBlur(weight, (0, 0), size / 32)


def paste_face(image: np.ndarray, face: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Blend an aligned face (size x size, uint8 or float) back into ``image`` in place; returns image.

    Only the face's bounding box in the image is touched, so memory does not grow with the photo."""
    import cv2

    size = face.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64).T
    box = inverse @ corners
    height, width = image.shape[:2]
    x0, y0 = np.floor(box.min(axis=1)).astype(int).clip(0, [width, height])
    x1, y1 = np.ceil(box.max(axis=1)).astype(int).clip(0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return image
    local = inverse.copy()
    local[:, 2] -= (x0, y0)
    region_size = (int(x1 - x0), int(y1 - y0))
    pasted = cv2.warpAffine(face.astype(np.float32), local, region_size, flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(face_weight(size), local, region_size, flags=cv2.INTER_LINEAR)[..., None]
    region = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = (alpha * pasted + (1 - alpha) * region).round().clip(0, 255).astype(np.uint8)
    return image


def blend_fidelity(restored: np.ndarray, original: np.ndarray, fidelity: float) -> np.ndarray:
    """fidelity 0 = the network's face, 1 = the input face; between, a linear mix of the two.

    GFPGAN's own ``weight`` argument does nothing in the v1.4 (clean) architecture, so the knob is
    implemented here, after the network."""
    fidelity = float(min(max(fidelity, 0.0), 1.0))
    return restored.astype(np.float32) * (1 - fidelity) + original.astype(np.float32) * fidelity
