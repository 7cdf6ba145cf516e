"""The building blocks of the procedural lesions (:mod:`lesiongan.data.procedural`): the pixel
grid around the lesion centre, smooth noise, polar outlines, pigment layers per chromophore and
the pattern primitives (blotches, dots and globules, the pigment network).

Lengths are in units of the shorter image side (``u``); every draw comes from the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

NTHETA = 1024  # resolution of the polar radius lookup tables
MAX_RADIUS = 0.42  # lesion must fit a centre square crop (units of the shorter side)

# Absorbance (-log transmittance per unit density) in RGB for each chromophore.
ABSORB = {
    "brown": np.array([0.42, 0.72, 0.95], np.float32),  # epidermal melanin
    "black": np.array([1.00, 1.00, 0.95], np.float32),  # dense melanin clumps
    "grey": np.array([0.55, 0.62, 0.68], np.float32),  # greyish keratotic pigment
    "blue": np.array([0.95, 0.62, 0.40], np.float32),  # dermal melanin (Tyndall blue)
    "red": np.array([0.05, 0.60, 0.50], np.float32),  # haemoglobin
}


class Grid(NamedTuple):
    h: int
    w: int
    u: float  # length unit in px (shorter image side); geometry below is in units of u
    x: np.ndarray  # x offset from the lesion centre (u)
    y: np.ndarray
    d: np.ndarray  # distance from the lesion centre (u)
    tidx: np.ndarray  # per-pixel index into a polar (angle) table
    off: tuple[float, float]  # lesion centre minus image centre (u)


class Shape(NamedTuple):
    mask: np.ndarray  # soft lesion mask in [0, 1]
    rho: np.ndarray  # distance / border radius along the same angle (1 = border)
    rtab: np.ndarray  # border radius (u) per polar table entry
    extent: float  # max distance of any lesion pixel from the centre (u)


class Layers:
    """Pigment densities per chromophore plus whitening (scattering) maps, created on use."""

    def __init__(self) -> None:
        self.od: dict[str, np.ndarray] = {}
        self.white: dict[str, np.ndarray] = {}

    def add(self, name: str, arr: np.ndarray) -> None:
        layers = self.od if name in ABSORB else self.white
        layers[name] = layers[name] + arr if name in layers else arr


def smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def noise(rng: np.random.Generator, g: Grid, cells: float, octaves: int = 1) -> np.ndarray:
    """~Unit-variance smooth noise, ~`cells` features per unit length (x2 per extra octave).

    A small Gaussian grid is bicubically upsampled: far cheaper than filtering full-res noise.
    """
    out = np.zeros((g.h, g.w), np.float32)
    for i in range(octaves):
        gh, gw = (max(2, round(cells * 2**i * n / g.u)) + 3 for n in (g.h, g.w))
        grid = rng.standard_normal((gh, gw), dtype=np.float32)
        box = (1.0, 1.0, gw - 2.0, gh - 2.0)  # drop the margin where bicubic lacks neighbours
        out += 0.5**i * np.asarray(Image.fromarray(grid).resize((g.w, g.h), Image.BICUBIC, box=box))
    # Bicubic interpolation keeps ~0.81 of the grid's std; octaves add in quadrature.
    return out * (1.0 / (0.81 * math.sqrt(sum(0.25**i for i in range(octaves)))))


def make_grid(rng: np.random.Generator, h: int, w: int) -> Grid:
    u = float(min(h, w))
    ox, oy = (float(v) for v in rng.uniform(-0.03, 0.03, 2))  # lesion near the centre
    xs = (np.arange(w, dtype=np.float32) + 0.5 - (w / 2 + ox * u)) / u
    ys = (np.arange(h, dtype=np.float32) + 0.5 - (h / 2 + oy * u)) / u
    x, y = np.broadcast_to(xs, (h, w)), np.broadcast_to(ys[:, None], (h, w))
    tidx = ((np.arctan2(y, x) + np.pi) * (NTHETA / (2 * np.pi))).astype(np.int32) % NTHETA
    return Grid(h, w, u, x, y, np.sqrt(x * x + y * y), tidx, (ox, oy))


def lesion_shape(rng: np.random.Generator, g: Grid, spec: tuple[float, ...]) -> Shape:
    """Lesion outline from spec = (radius, aspect, asym, irreg, lobes, notches, soft, jitter).

    radius in u, soft = edge width as a fraction of the radius, jitter = 2-D border wobble.
    """
    radius, aspect, asym, irreg, lobes, notches, soft, jitter = spec
    th = np.linspace(-np.pi, np.pi, NTHETA, endpoint=False)
    rot, ax = rng.uniform(0, np.pi), math.sqrt(aspect)  # area-preserving ellipse
    r = 1.0 / np.sqrt((np.cos(th - rot) / ax) ** 2 + (np.sin(th - rot) * ax) ** 2)
    ks = np.arange(1, 33)
    # Low orders make the outline asymmetric, high orders ragged (ABCD "A" and "B").
    amp = np.where(ks <= 3, asym / np.sqrt(ks), irreg * (ks / 4.0) ** -0.8)
    amp = amp * rng.uniform(0.3, 1.0, ks.size)
    ph = rng.uniform(0, 2 * np.pi, ks.size)
    r = r * (1.0 + (amp[:, None] * np.cos(ks[:, None] * th + ph[:, None])).sum(0))
    if lobes > 0:  # |cos| bumps with cusps between them read as lobulated
        k = int(rng.integers(3, 7))
        r = r * (1.0 + lobes * (np.abs(np.cos(0.5 * k * th + rng.uniform(0, np.pi))) - 0.6))
    for _ in range(int(notches)):
        dth = np.angle(np.exp(1j * (th - rng.uniform(-np.pi, np.pi))))
        r = r * (1.0 - rng.uniform(0.08, 0.22) * np.exp(-((dth / rng.uniform(0.04, 0.15)) ** 2)))
    r = np.maximum(r, 0.3) * (radius / r.mean())
    limit = MAX_RADIUS - math.hypot(*g.off)
    extent = float(r.max()) * (1.0 + 2.5 * jitter)
    if extent > limit:  # shrink rather than let the lesion leave the centre crop
        r, extent = r * (limit / extent), limit
    rho = g.d / r.astype(np.float32)[g.tidx]
    rho += jitter * np.clip(noise(rng, g, 22.0, 2), -2.5, 2.5)  # fuzzy, fractal border
    return Shape(smoothstep((1.0 - rho) / soft), rho, r, extent)


def patch(
    rng: np.random.Generator, g: Grid, shp: Shape, cover: float, tilt: float, cells: float = 6.0
) -> np.ndarray:
    """Irregular soft blotch covering roughly `cover` of the lesion, pushed to one side."""
    ang = rng.uniform(0, 2 * np.pi)
    n = noise(rng, g, cells) + tilt * (g.x * math.cos(ang) + g.y * math.sin(ang))
    thr = NormalDist().inv_cdf(1.0 - float(np.clip(cover, 0.02, 0.98)))
    texture = 0.8 + 0.2 * noise(rng, g, 25.0)  # blotches are mottled, not flat paint
    return smoothstep((n - thr) / 1.3) * texture * shp.mask


def blobs(
    rng: np.random.Generator, g: Grid, shp: Shape, n: int, spec: tuple[float, ...]
) -> np.ndarray:
    """Soft antialiased blobs (dots, globules, cysts) inside the lesion, as random polygons.

    spec = (r_min, r_max, irregular, lo, hi, kappa): radius range (u), polygon irregularity,
    border-fraction range of the centres and their angular clustering (von Mises kappa).
    """
    r_min, r_max, irregular, lo, hi, kappa = spec
    ang = rng.vonmises(rng.uniform(-np.pi, np.pi), kappa, n)
    idx = ((ang + np.pi) * (NTHETA / (2 * np.pi))).astype(np.int64) % NTHETA
    rr = shp.rtab[idx] * rng.uniform(lo, hi, n)
    cx = (g.w / 2 + (g.off[0] + rr * np.cos(ang)) * g.u) * 2  # 2x supersampled canvas
    cy = (g.h / 2 + (g.off[1] + rr * np.sin(ang)) * g.u) * 2
    radii = rng.uniform(r_min, r_max, n) * g.u * 2
    vert = np.linspace(0, 2 * np.pi, 9)[:-1] + rng.uniform(0, 1, (n, 1))
    vr = radii[:, None] * (1.0 + irregular * rng.uniform(-1, 1, (n, 8)))
    im = Image.new("L", (g.w * 2, g.h * 2), 0)
    dr = ImageDraw.Draw(im)
    for i in range(n):
        pts = np.stack([cx[i] + vr[i] * np.cos(vert[i]), cy[i] + vr[i] * np.sin(vert[i])], 1)
        dr.polygon(pts.ravel().tolist(), fill=255)
    im = im.resize((g.w, g.h), Image.BOX).filter(ImageFilter.BoxBlur(0.25 * float(radii.mean())))
    # Clip at the border so that lesion_radius_px stays a true bound.
    return np.asarray(im, np.float32) * (1.0 / 255.0) * smoothstep((1.0 - shp.rho) * 20.0)


def network(rng: np.random.Generator, g: Grid, a: float) -> np.ndarray:
    """Pigment network: the zero set of band-limited noise is a mesh of thin curved lines.

    Atypia makes line thickness vary and breaks the mesh up (7-point "atypical network").
    """
    n = noise(rng, g, rng.uniform(35, 55))
    width = 0.22 * np.exp(0.8 * a * noise(rng, g, 6.0))
    net = np.exp(-((n / width) ** 2))
    if a > 0.3:
        net *= smoothstep(noise(rng, g, 5.0) + 2.0 - 2.5 * a)
    return net
