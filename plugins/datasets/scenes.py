"""The digit-scenes generator: street-like scenes of real handwritten digits, in NumPy.

Each scene has a light sky/ground background split at a random horizon, low-frequency colour variation, a fine
texture, a few building-like blocks, digit-like distractor strokes (labelled background) and 3-7 digits of
scikit-learn's bundled 8x8 handwriting (1,797 images) scaled to 16-48 pixels, each in its own ink colour and
contrast (always darker than what lies under it), placed with limited overlap (a later digit occludes an
earlier one). Telling the digits apart needs context (a whole digit, up to 48 pixels); labelling their thin
strokes needs detail.

Everything is drawn from one ``numpy.random.Generator``: the same seed gives the same scenes, bit for bit.
Bump :data:`GENERATOR_VERSION` whenever a change alters the output, so that caches are regenerated.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["GENERATOR_VERSION", "SceneParams", "load_source_digits", "partition_sources", "generate_scenes"]

GENERATOR_VERSION = 2
#: share of the source digits that each split draws from (stratified by digit); splits never share one
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
#: the scene height the digit heights are given for
REFERENCE_HEIGHT = 128
MAX_OVERLAP = 0.25  # largest share of a new digit's pixels that may cover earlier digits
LIGHT = 0.45  # darkest background channel value
INK_CONTRAST = (0.3, 0.6)  # how much darker than what lies under them digits and strokes are


@dataclass(frozen=True)
class SceneParams:
    size: tuple[int, int]
    digits_per_scene: tuple[int, int]
    digit_height: tuple[int, int]
    distractors: int


@functools.lru_cache(maxsize=1)
def load_source_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits: ``N x 8 x 8`` float32 in [0, 1] and their classes."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)


def partition_sources(targets: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Disjoint source-image indices per split, stratified by digit class."""
    rng = np.random.default_rng([seed, 0x5EED])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_FRACTIONS}
    for digit in np.unique(targets):
        idx = rng.permutation(np.flatnonzero(targets == digit))
        cut_train = round(len(idx) * SPLIT_FRACTIONS["train"])
        cut_val = cut_train + round(len(idx) * SPLIT_FRACTIONS["val"])
        parts["train"].append(idx[:cut_train])
        parts["val"].append(idx[cut_train:cut_val])
        parts["test"].append(idx[cut_val:])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


@functools.lru_cache(maxsize=512)
def _resize_matrix(n_out: int, n_in: int) -> np.ndarray:
    """``n_out x n_in`` bilinear interpolation weights (half-pixel centres): ``M @ v`` resizes ``v``."""
    x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(x).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    frac = (x - low).astype(np.float32)
    m = np.zeros((n_out, n_in), dtype=np.float32)
    np.add.at(m, (np.arange(n_out), low), 1 - frac)
    np.add.at(m, (np.arange(n_out), high), frac)
    return m


def _upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """``C x h x w`` -> ``height x width x C`` by separable bilinear interpolation."""
    rows = _resize_matrix(height, grid.shape[1])
    cols = _resize_matrix(width, grid.shape[2])
    return np.einsum("hi,cij,wj->hwc", rows, grid, cols, optimize=True)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Sky over ground at a random horizon, colour drift, texture and building-like blocks: ``H x W x 3``."""
    sky, ground = _light(rng), _light(rng)
    horizon = rng.uniform(0.3, 0.65) * height
    t = 1.0 / (1.0 + np.exp(-(np.arange(height, dtype=np.float32) - horizon) / (0.03 * height)))
    img = (sky[None, :] * (1 - t)[:, None] + ground[None, :] * t[:, None])[:, None, :]
    img = img + _upsample(rng.normal(0, 0.12, (3, 4, 8)).astype(np.float32), height, width)
    img = img + _upsample(rng.normal(0, 0.05, (1, max(2, height // 8), max(2, width // 8))).astype(np.float32),
                          height, width)
    for _ in range(rng.integers(1, 5)):  # blocks standing on the horizon
        top = int(rng.uniform(0.05, 0.5) * horizon)
        left = int(rng.integers(0, width))
        right = min(width, left + int(rng.uniform(0.05, 0.25) * width))
        img[top:int(horizon), left:right] = 0.4 * img[top:int(horizon), left:right] + 0.6 * _light(rng)
    return img.astype(np.float32)


def _light(rng: np.random.Generator) -> np.ndarray:
    """A random colour bright enough for dark ink to stand out on it."""
    return (LIGHT + (1 - LIGHT) * rng.random(3)).astype(np.float32)


def _ink(rng: np.random.Generator, patch: np.ndarray) -> np.ndarray:
    """A colour darker than ``patch``'s mean by a random contrast, in a random hue: ink, not paint.

    One polarity (dark on light) for digits and distractors alike keeps the task about shapes: a network need not
    first learn that a digit may be darker or brighter than what lies under it."""
    level = float(patch.mean()) if patch.size else 0.75
    target = level - rng.uniform(*INK_CONTRAST)
    return np.clip(target + rng.normal(0, 0.1, 3), 0, 1).astype(np.float32)


def _blend(img: np.ndarray, alpha: np.ndarray, top: int, left: int, colour: np.ndarray) -> None:
    h, w = alpha.shape
    region = img[top:top + h, left:left + w]
    region += alpha[..., None] * (colour - region)


def _stroke(rng: np.random.Generator, img: np.ndarray, scale: float, heights: tuple[int, int]) -> None:
    """A digit-like curved stroke (a quadratic Bezier curve), labelled background."""
    height, width = img.shape[:2]
    span = rng.uniform(*heights) * scale
    thickness = span * rng.uniform(0.08, 0.18)
    origin = np.array([rng.uniform(0, height), rng.uniform(0, width)])
    ctrl = origin + rng.uniform(-span / 2, span / 2, (3, 2))
    t = np.linspace(0, 1, 24)[:, None]
    pts = (1 - t) ** 2 * ctrl[0] + 2 * (1 - t) * t * ctrl[1] + t ** 2 * ctrl[2]
    pad = thickness
    top, left = (np.floor(pts.min(0) - pad).astype(int)).clip(0)
    bottom, right = np.ceil(pts.max(0) + pad).astype(int)
    bottom, right = min(bottom, height), min(right, width)
    if bottom <= top or right <= left:
        return
    yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
    dist = np.sqrt((yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2).min(-1)
    alpha = np.clip(thickness / 2 - dist + 0.5, 0, 1).astype(np.float32)
    _blend(img, alpha, top, left, _ink(rng, img[top:bottom, left:right]))


def _digit(rng: np.random.Generator, img: np.ndarray, label: np.ndarray, glyph: np.ndarray, cls: int,
           scale: float, heights: tuple[int, int]) -> bool:
    """Scale one 8x8 digit, place it where it overlaps earlier digits little, draw it and label it."""
    height, width = label.shape
    h = int(np.clip(round(rng.uniform(*heights) * scale), 4, height))
    w = int(np.clip(round(h * rng.uniform(0.6, 0.95)), 4, width))
    padded = np.pad(glyph, 1)
    value = _resize_matrix(h, 10) @ padded @ _resize_matrix(w, 10).T
    alpha = np.clip((value - 0.2) / 0.3, 0, 1)
    mask = value > 0.35
    if not mask.any():
        return False
    for _ in range(8):
        top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        if (label[top:top + h, left:left + w][mask] > 0).mean() <= MAX_OVERLAP:
            break
    else:
        return False  # crowded: leave this digit out
    _blend(img, alpha, top, left, _ink(rng, img[top:top + h, left:left + w]))
    label[top:top + h, left:left + w][mask] = cls + 1
    return True


def render_scene(rng: np.random.Generator, params: SceneParams, pool: np.ndarray, glyphs: np.ndarray,
                 classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """One scene: ``H x W x 3`` uint8, ``H x W`` uint8 labels (0 background, 1 + digit) and the source digits
    drawn."""
    height, width = params.size
    scale = height / REFERENCE_HEIGHT
    img = _background(rng, height, width)
    label = np.zeros((height, width), dtype=np.uint8)
    for _ in range(rng.integers(0, params.distractors + 1)):
        _stroke(rng, img, scale, params.digit_height)
    sources = []
    for _ in range(rng.integers(params.digits_per_scene[0], params.digits_per_scene[1] + 1)):
        src = int(rng.choice(pool))
        if _digit(rng, img, label, glyphs[src], int(classes[src]), scale, params.digit_height):
            sources.append(src)
    img += rng.normal(0, 0.03, (height, width, 1)).astype(np.float32)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), label, sources


def generate_scenes(params: SceneParams, split: str, count: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` scenes of ``split``, drawn only from that split's source digits: images, labels and the
    (sorted, unique) indices of the source digits they show."""
    glyphs, classes = load_source_digits()
    pool = partition_sources(classes, seed)[split]
    rng = np.random.default_rng([seed, list(SPLIT_FRACTIONS).index(split), GENERATOR_VERSION])
    height, width = params.size
    images = np.empty((count, height, width, 3), dtype=np.uint8)
    labels = np.empty((count, height, width), dtype=np.uint8)
    used: set[int] = set()
    for i in range(count):
        images[i], labels[i], sources = render_scene(rng, params, pool, glyphs, classes)
        used.update(sources)
    return images, labels, np.array(sorted(used), dtype=np.int64)
