"""The digit-scenes generator: street-like scenes of signs that carry real handwritten digits, in NumPy.

Each scene has a light sky/ground background split at a random horizon, low-frequency colour variation, a fine
texture, a few building-like blocks and digit-like distractor strokes (labelled background). On it stand 4-7
**signs** -- plates of three shapes (ellipse, rounded square, diamond), some with a dark rim -- 32-64 pixels
across at 128-pixel scenes, each carrying one digit of scikit-learn's bundled 8x8 handwriting (1,797 images)
in dark ink; up to one more sign is blank. The whole plate is labelled with its digit's class, and a blank
plate is background. A pixel near a plate's edge is therefore classified by what is written in the plate's
middle, up to 32 pixels away: the task needs **context** (a receptive field that grows with the sign, which is
what dilation and depth buy) as well as the **detail** to read a digit 20 pixels high.

Everything is drawn from one ``numpy.random.Generator``: the same seed gives the same scenes, bit for bit.
Bump :data:`GENERATOR_VERSION` whenever a change alters the output, so that caches are regenerated.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["GENERATOR_VERSION", "SceneParams", "load_source_digits", "partition_sources", "generate_scenes"]

GENERATOR_VERSION = 3
#: share of the source digits that each split draws from (stratified by digit); splits never share one
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
#: the scene height the sign sizes are given for
REFERENCE_HEIGHT = 128
MAX_OVERLAP = 0.15  # largest share of a new sign's pixels that may cover earlier signs
PLACEMENT_TRIES = 10
LIGHT = 0.45  # darkest background channel value
PLATE = (0.55, 1.0)  # range of a plate's channel values: light, so that dark ink reads on it
RIM_PROBABILITY = 0.3  # share of plates with a dark rim (as on traffic signs)
GLYPH_SHARE = (0.65, 0.8)  # a digit's height as a share of its plate's (three quarters of that in a diamond)
RIM_WIDTH = 0.07  # a rim's width as a share of its plate's size
GLYPH_EDGE = (0.1, 0.25)  # glyph coverage mapped to ink opacity: (fully clear below, ramp width); low = bold
INK_CONTRAST = (0.5, 0.7)  # how much darker than their plate digits are
STROKE_CONTRAST = (0.3, 0.6)  # how much darker than what lies under them distractor strokes are
STROKE_SPAN = (16, 48)  # distractor stroke sizes at 128-pixel scenes


@dataclass(frozen=True)
class SceneParams:
    size: tuple[int, int]
    digits_per_scene: tuple[int, int]
    sign_size: tuple[int, int]
    empty_signs: int
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


def _darker(rng: np.random.Generator, level: np.ndarray | float, contrast: tuple[float, float]) -> np.ndarray:
    """A colour darker than ``level`` by a random contrast, in a random hue: ink, not paint."""
    target = np.asarray(level, dtype=np.float32) - rng.uniform(*contrast)
    return np.clip(target + rng.normal(0, 0.05, 3), 0, 1).astype(np.float32)


def _stroke(rng: np.random.Generator, img: np.ndarray, scale: float) -> None:
    """A digit-like curved stroke (a quadratic Bezier curve), labelled background."""
    height, width = img.shape[:2]
    span = rng.uniform(*STROKE_SPAN) * scale
    thickness = span * rng.uniform(0.08, 0.18)
    origin = np.array([rng.uniform(0, height), rng.uniform(0, width)])
    ctrl = origin + rng.uniform(-span / 2, span / 2, (3, 2))
    t = np.linspace(0, 1, 24)[:, None]
    pts = (1 - t) ** 2 * ctrl[0] + 2 * (1 - t) * t * ctrl[1] + t ** 2 * ctrl[2]
    top, left = (np.floor(pts.min(0) - thickness).astype(int)).clip(0)
    bottom, right = np.ceil(pts.max(0) + thickness).astype(int)
    bottom, right = min(bottom, height), min(right, width)
    if bottom <= top or right <= left:
        return
    yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
    dist = np.sqrt((yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2).min(-1)
    alpha = np.clip(thickness / 2 - dist + 0.5, 0, 1).astype(np.float32)
    region = img[top:bottom, left:right]
    region += alpha[..., None] * (_darker(rng, region.mean(), STROKE_CONTRAST) - region)


def _plate(shape: int, height: int, width: int) -> np.ndarray:
    """Signed distance (pixels, positive inside) to the outline of a plate filling ``height x width``: an
    ellipse, a rounded square or a diamond."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ry, rx = height / 2, width / 2
    dy, dx = np.abs(yy - (height - 1) / 2), np.abs(xx - (width - 1) / 2)
    if shape == 0:
        return (1 - np.sqrt((dy / ry) ** 2 + (dx / rx) ** 2)) * min(ry, rx)
    if shape == 1:
        r = 0.3 * min(ry, rx)
        qy, qx = dy - (ry - r), dx - (rx - r)
        outside = np.sqrt(np.maximum(qy, 0) ** 2 + np.maximum(qx, 0) ** 2)
        return r - outside - np.minimum(np.maximum(qy, qx), 0)
    return (1 - dy / ry - dx / rx) * min(ry, rx) * 0.7


def _glyph(glyph: np.ndarray, height: int, width: int) -> np.ndarray:
    """An 8x8 digit scaled to ``height x width`` as ink opacity in [0, 1]."""
    value = _resize_matrix(height, 10) @ np.pad(glyph, 1) @ _resize_matrix(width, 10).T
    return np.clip((value - GLYPH_EDGE[0]) / GLYPH_EDGE[1], 0, 1)


def _place(rng: np.random.Generator, mask: np.ndarray, label: np.ndarray) -> tuple[int, int] | None:
    """A top-left corner where ``mask`` (up to a quarter of it may leave the scene) covers little of the signs
    already placed; ``None`` when the scene is too crowded."""
    height, width = label.shape
    h, w = mask.shape
    for _ in range(PLACEMENT_TRIES):
        top, left = int(rng.integers(-h // 4, height - 3 * h // 4 + 1)), int(rng.integers(-w // 4, width - 3 * w // 4 + 1))
        inside = mask[max(-top, 0):height - top, max(-left, 0):width - left]
        covered = label[max(top, 0):top + h, max(left, 0):left + w][inside]
        if covered.size and (covered > 0).mean() <= MAX_OVERLAP:
            return top, left
    return None


def _sign(rng: np.random.Generator, img: np.ndarray, label: np.ndarray, size: float, glyph: np.ndarray | None,
          cls: int) -> bool:
    """Draw one sign of height ``size`` carrying ``glyph`` (blank when ``None``) and label its plate ``cls + 1``
    (background when blank). False when there was no room for it."""
    height, width = label.shape
    h = min(int(round(size)), height)
    w = min(int(round(size * rng.uniform(0.85, 1.15))), width)
    shape = int(rng.integers(0, 3))
    dist = _plate(shape, h, w)
    alpha = np.clip(dist + 0.5, 0, 1)
    corner = _place(rng, alpha > 0.5, label)
    if corner is None:
        return False
    top, left = corner
    layer = np.zeros((h, w, 4), dtype=np.float32)  # colour and opacity of the sign, drawn off-scene first
    plate = (PLATE[0] + (PLATE[1] - PLATE[0]) * rng.random(3)).astype(np.float32)
    layer[..., :3], layer[..., 3] = plate, alpha
    if rng.random() < RIM_PROBABILITY:
        thickness = RIM_WIDTH * min(h, w)
        ring = np.clip(thickness - np.abs(dist - thickness) + 0.5, 0, 1) * (dist > -0.5)
        layer[..., :3] += ring[..., None] * (_darker(rng, plate, INK_CONTRAST) - layer[..., :3])
    if glyph is not None:
        gh = int(round(h * rng.uniform(*GLYPH_SHARE) * (0.75 if shape == 2 else 1.0)))
        gw = int(round(gh * rng.uniform(0.6, 0.9)))
        ink = _glyph(glyph, gh, gw)
        gt, gl = (h - gh) // 2, (w - gw) // 2
        region = layer[gt:gt + gh, gl:gl + gw, :3]
        region += ink[..., None] * (_darker(rng, plate, INK_CONTRAST) - region)
    rows = slice(max(top, 0), min(top + h, height))
    cols = slice(max(left, 0), min(left + w, width))
    part = layer[rows.start - top:rows.stop - top, cols.start - left:cols.stop - left]
    scene = img[rows, cols]
    scene += part[..., 3:] * (part[..., :3] - scene)
    label[rows, cols][part[..., 3] > 0.5] = 0 if glyph is None else cls + 1
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
        _stroke(rng, img, scale)
    digits = [int(rng.choice(pool)) for _ in range(rng.integers(params.digits_per_scene[0],
                                                                 params.digits_per_scene[1] + 1))]
    signs: list[int | None] = [*digits, *[None] * int(rng.integers(0, params.empty_signs + 1))]
    sources = []
    for i in rng.permutation(len(signs)):
        src = signs[i]
        size = rng.uniform(*params.sign_size) * scale
        glyph = None if src is None else glyphs[src]
        if _sign(rng, img, label, size, glyph, -1 if src is None else int(classes[src])) and src is not None:
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
