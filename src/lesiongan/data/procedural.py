"""Procedural dermoscopy-like skin-lesion images for three ISIC-2017-like classes.

The embedded default dataset: lets the GAN and classifier pipeline run without any download.
numpy + Pillow (scipy.ndimage only for blurs at >= 320 px), deterministic given the
``numpy.random.Generator`` passed in (no global RNG), ~30 ms/image at 256x341.

Visual model.  Colour follows a simple optical picture of dermoscopy: skin attenuated by pigment
densities (Beer-Lambert, one absorption spectrum per chromophore: epidermal melanin -> brown,
dense melanin -> black, dermal melanin -> blue-grey by the Tyndall effect, haemoglobin -> red),
then partly whitened by scattering layers (regression, blue-white veil, waxy keratin, milia).
Outlines are polar radius functions: an ellipse times Fourier harmonics (low orders = asymmetry,
high orders = ragged border), plus notches and a 2-D noise wobble.  The class cues follow the
ABCD rule (Asymmetry, Border, Colours, Dermoscopic structures) and the 7-point checklist
(atypical network, blue-white veil, irregular dots/globules and blotches, regression):

* nevus and melanoma share one "melanocytic" renderer driven by a latent atypia in [0, 1]: nevi
  draw low atypia (round, one brown shade, regular network), melanomas high atypia (asymmetric,
  notched, several colour blotches, peripheral black dots, larger).  The distributions overlap
  on purpose: atypical nevi and featureless melanomas exist.
* seborrheic keratosis has its own renderer: waxy light/grey-brown, sharply demarcated
  ("stuck-on"), oval/lobulated, cerebriform fissures and ridges, milia-like cysts and
  comedo-like openings, scaled by a per-image strength so that weak ones resemble nevi.

Acquisition effects are class-independent: skin tone, mottling, illumination gradient,
vignetting, a dark circular dermoscope field border, glare, gel bubbles, hairs, blur and noise.
Lengths are in units of the shorter image side, so the look does not depend on resolution;
requests below ``_WORK_MIN`` px are rendered larger and box-downsampled (antialiasing).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from lesiongan.data.procedural_parts import (
    ABSORB,
    Grid,
    Layers,
    Shape,
    blobs,
    lesion_shape,
    make_grid,
    network,
    noise,
    patch,
    smoothstep,
)

CLASSES = ("melanoma", "seborrheic_keratosis", "nevus")

_MIN_SIZE = 32
_WORK_MIN = 128  # smaller requests are rendered at >= this size, then downsampled

_SKIN_LIGHT = np.array([0.96, 0.81, 0.75], np.float32)
_SKIN_DARK = np.array([0.68, 0.47, 0.35], np.float32)
_WHITE = {  # scattering layer colours
    "regression": np.array([0.93, 0.90, 0.90], np.float32),
    "veil": np.array([0.62, 0.72, 0.88], np.float32),
    "wax": np.array([0.92, 0.86, 0.76], np.float32),
    "milia": np.array([0.98, 0.95, 0.80], np.float32),
}


def _colour_blotches(rng: np.random.Generator, g: Grid, lay: Layers, shp: Shape, a: float) -> None:
    """ABCD "C": extra colours in irregular blotches; more of them, one-sided, with atypia."""
    n_extra = rng.binomial(4, max(a - 0.1, 0.0) ** 1.5)  # banal lesions: (almost) never
    kinds = rng.choice(4, size=n_extra, replace=False, p=[0.4, 0.25, 0.2, 0.15])
    for kind in kinds:
        p = patch(rng, g, shp, rng.uniform(0.12, 0.4), 6.0 * a)
        if kind == 0:  # dark brown to black irregular blotch
            lay.add("black", p * rng.uniform(0.4, 1.2))
            lay.add("brown", 0.4 * p)
        elif kind == 1:  # blue-white veil: dermal melanin under a whitish haze
            lay.add("blue", p * rng.uniform(0.3, 0.8))
            lay.od["brown"] *= 1.0 - 0.5 * p
            lay.add("veil", p * rng.uniform(0.1, 0.3))
        elif kind == 2:  # red/pink (vascular) areas, biased to the periphery
            p = p * (0.4 + 0.6 * np.clip(shp.rho, 0.0, 1.0))
            lay.add("red", p * rng.uniform(0.4, 0.9))
            lay.od["brown"] *= 1.0 - 0.6 * p
        else:  # regression: scar-like whitish area with grey-blue peppering
            lay.od["brown"] *= 1.0 - 0.7 * p
            lay.add("regression", p * rng.uniform(0.2, 0.5))
            lay.add("blue", 0.6 * smoothstep(noise(rng, g, 70.0) - 1.0) * p)


def _melanocytic(rng: np.random.Generator, g: Grid, lay: Layers, a: float) -> Shape:
    """Nevus / melanoma: one renderer, every ABCD and 7-point cue scaled by atypia `a`."""
    radius = rng.uniform(0.14, 0.27) + 0.12 * a * rng.uniform(0.4, 1.2)  # melanoma: larger
    aspect, asym = 1.0 + rng.uniform(0, 0.2 + 0.3 * a), 0.02 + 0.2 * a * rng.uniform(0.3, 1.0)
    irreg, notches = 0.003 + 0.045 * a**1.5 * rng.uniform(0.5, 1.0), int(rng.poisson(5 * a**3))
    soft, jitter = rng.uniform(0.1, 0.3) - 0.06 * a, 0.004 + 0.03 * a  # nevi fade out softly
    shp = lesion_shape(rng, g, (radius, aspect, asym, irreg, 0.0, notches, soft, jitter))
    m = shp.mask
    ang = rng.uniform(0, 2 * np.pi)
    side = (g.x * math.cos(ang) + g.y * math.sin(ang)) / radius  # -1..1 across the lesion
    tone = 1.0 + (0.05 + 0.35 * a) * noise(rng, g, rng.uniform(4, 8))
    tone += 0.5 * a * rng.uniform(0, 1) * side  # atypical: one half darker than the other
    tone *= 1.0 + rng.uniform(0.08, 0.2) * noise(rng, g, 14.0, 3)  # granular melanin
    centre = 1.0 + rng.uniform(0, 0.6) * (1 - a) * smoothstep(1.0 - shp.rho)
    lay.add("brown", m * rng.uniform(0.7, 1.4) * np.clip(tone, 0.2, None) * centre)
    if rng.random() < 0.6:
        net = m * network(rng, g, a) * (1.0 - 0.6 * smoothstep(shp.rho))  # fades outwards
        lay.add("brown", net * rng.uniform(0.2, 0.5))
        lay.add("black", net * 0.15 * a)
    _colour_blotches(rng, g, lay, shp, a)
    # Dots/globules: few, regular, central when banal; many, uneven, peripheral and clustered
    # to one side when atypical (7-point "irregular dots/globules").
    if rng.random() < 0.25 + 0.6 * a:
        n = int(rng.poisson(3 + 30 * a * a)) + 1
        spec = (0.003, 0.007 + 0.01 * a, 0.1 + 0.4 * a, 0.2 + 0.5 * a, 0.6 + 0.35 * a, 2.0 * a)
        dots = blobs(rng, g, shp, n, spec)
        lay.add("brown", dots * rng.uniform(0.4, 0.9))
        lay.add("black", dots * rng.uniform(0.3, 1.5) * a)
    return shp


def _keratosis(rng: np.random.Generator, g: Grid, lay: Layers) -> tuple[Shape, float]:
    """Seborrheic keratosis: waxy, sharply demarcated, cerebriform, milia and comedo openings."""
    # Strength of the SK-specific structures; ~12% are flat, nevus-like early keratoses.
    s = float(rng.uniform(0.05, 0.3) if rng.random() < 0.12 else rng.beta(2.5, 1.5))
    radius, aspect, asym = rng.uniform(0.15, 0.33), rng.uniform(1.1, 1.7), rng.uniform(0.01, 0.06)
    lobes, soft = rng.uniform(0, 0.12), rng.uniform(0.02, 0.06)  # lobulated, sharp "stuck-on"
    shp = lesion_shape(rng, g, (radius, aspect, asym, 0.004, lobes, 0, soft, 0.004))
    m = shp.mask
    dens, grey = rng.uniform(0.4, 1.3), rng.uniform(0.0, 0.7)
    tone = m * dens * (1.0 + 0.25 * noise(rng, g, rng.uniform(4, 8)))
    lay.add("brown", tone * (1.0 - grey))
    lay.add("grey", tone * grey * 1.2)
    # Cerebriform "fissures and ridges": branching pale ridges, dark crypts in between.
    n = noise(rng, g, rng.uniform(12, 20), 2)
    ridge = np.exp(-((n / 0.5) ** 2)) * m  # gyri: pale, waxy ridges along the zero set
    pits = smoothstep(np.abs(n) - 0.9) * m  # sulci/crypts between them: dark, keratin-filled
    lay.add("brown", pits * s * rng.uniform(0.5, 1.1) - ridge * s * 0.3 * dens)
    lay.add("black", pits * pits * s * 0.3)
    lay.add("wax", ridge * s * rng.uniform(0.2, 0.4) + m * rng.uniform(0.04, 0.12))
    lay.add("brown", np.exp(-(((1.0 - shp.rho) / 0.05) ** 2)) * m * rng.uniform(0.1, 0.3))
    k = int(rng.poisson(1 + 10 * s))
    if k:  # milia-like cysts: small whitish-yellow dots
        milia = blobs(rng, g, shp, k, (0.004, 0.009, 0.2, 0.0, 0.85, 0.0))
        lay.add("milia", milia * rng.uniform(0.4, 0.8))
    k = int(rng.poisson(7 * s))
    if k:  # comedo-like openings: dark, irregular crypts
        com = blobs(rng, g, shp, k, (0.006, 0.015, 0.45, 0.0, 0.85, 0.0))
        lay.add("black", com * rng.uniform(0.4, 1.0))
        lay.add("brown", com * 0.8)
    return shp, s


def _skin(rng: np.random.Generator, g: Grid, lay: Layers) -> tuple[np.ndarray, float]:
    """Background skin colour; mottling, fine furrows and erythema go in as densities."""
    t = float(rng.beta(1.3, 2.6))  # 0 = light .. 1 = medium-dark
    base = _SKIN_LIGHT + t * (_SKIN_DARK - _SKIN_LIGHT)
    base = base + rng.normal(0, 0.015, 3).astype(np.float32)
    od = noise(rng, g, 4.0, 4) * rng.uniform(0.03, 0.07)
    od += np.exp(-((noise(rng, g, 28.0) / 0.15) ** 2)) * rng.uniform(0.0, 0.03)
    lay.add("grey", od)
    lay.add("red", np.clip(noise(rng, g, 1.5), 0.0, None) * rng.uniform(0.0, 0.12))
    return base, t


def _hairs(rng: np.random.Generator, g: Grid) -> np.ndarray:
    """Coverage (0..1) of a few curved, antialiased hairs, ~1-2 px wide at 256 px."""
    ss = 3 if g.u < 512 else 2
    im = Image.new("L", (g.w * ss, g.h * ss), 0)
    dr = ImageDraw.Draw(im)
    t = np.linspace(0.0, 1.0, 24)[:, None]
    for _ in range(int(rng.integers(1, 7))):
        mid = rng.uniform([0.0, 0.0], [g.w, g.h])  # each hair crosses the image
        ang, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.4, 1.3) * g.u
        dirn = np.array([math.cos(ang), math.sin(ang)])
        f = rng.uniform(0.2, 0.8)
        p0, p2 = mid - dirn * length * f, mid + dirn * length * (1 - f)
        p1 = mid + dirn[::-1] * [-1, 1] * rng.uniform(-0.3, 0.3) * length  # bend sideways
        pts = ((1 - t) ** 2 * p0 + 2 * t * (1 - t) * p1 + t**2 * p2) * ss
        width = max(1, round(rng.uniform(1.0, 2.0) * g.u / 256 * ss))
        dr.line(pts.ravel().tolist(), fill=int(rng.integers(170, 256)), width=width, joint="curve")
    return np.asarray(im.resize((g.w, g.h), Image.BOX), np.float32) / 255.0


def _optics(rng: np.random.Generator, g: Grid, img: np.ndarray) -> tuple[np.ndarray, dict]:
    """Illumination gradient, vignetting, glare, gel bubble and the dermoscope field border."""
    xi, yi = g.x + g.off[0], g.y + g.off[1]  # image-centred coordinates
    ang = rng.uniform(0, 2 * np.pi)
    light = 1.0 + rng.uniform(0, 0.25) * (xi * math.cos(ang) + yi * math.sin(ang))
    light -= rng.uniform(0.0, 0.35) * (xi * xi + yi * yi)
    half = np.array([g.w / g.u, g.h / g.u]) / 2
    glare, bubble, field = (bool(rng.random() < p) for p in (0.2, 0.15, 0.3))
    if field:  # circular dermoscope aperture: dark outside, well clear of the lesion
        fx, fy = (float(v) for v in rng.uniform(-0.04, 0.04, 2))
        inside = smoothstep(
            (rng.uniform(0.56, 0.8) - np.sqrt((xi - fx) ** 2 + (yi - fy) ** 2)) / 0.015
        )
        light = light * inside
    img = img * light
    if field:
        img += (1.0 - inside) * rng.uniform(0.0, 0.04)
    if glare:  # small specular reflection
        qx, qy = (float(v) for v in rng.uniform(-0.8, 0.8, 2) * half)
        rr = rng.uniform(0.008, 0.03)
        gl = np.exp(-((xi - qx) ** 2 + (yi - qy) ** 2) / (rr * rr)) * rng.uniform(0.5, 0.9)
        img += (1.0 - img) * gl
    if bubble:  # gel bubble: dark outline with a bright inner rim
        qx, qy = (float(v) for v in rng.uniform(-0.8, 0.8, 2) * half)
        rb = rng.uniform(0.015, 0.06)
        dq = np.sqrt((xi - qx) ** 2 + (yi - qy) ** 2)
        img *= 1.0 - 0.35 * np.exp(-(((dq - rb) / (0.12 * rb)) ** 2))
        img += (1.0 - img) * (0.5 * np.exp(-(((dq - 0.8 * rb) / (0.12 * rb)) ** 2)))
    return img, {"glare": glare, "bubble": bubble, "field_border": field}


def _finish(
    rng: np.random.Generator, g: Grid, img: np.ndarray, out_h: int, out_w: int
) -> np.ndarray:
    """Optical blur, downsample to the requested size, sensor noise, then 8-bit HxWx3."""
    sigma = rng.uniform(0.3, 0.8) * g.u / 256  # px at render size
    if sigma < 1.0:  # separable 3-tap Gaussian: much cheaper than PIL's blur on RGB
        wgt = math.exp(-0.5 / (sigma * sigma))
        c, e = 1.0 / (1.0 + 2.0 * wgt), wgt / (1.0 + 2.0 * wgt)
        img[:, :, 1:-1] = c * img[:, :, 1:-1] + e * (img[:, :, :-2] + img[:, :, 2:])
        img[:, 1:-1] = c * img[:, 1:-1] + e * (img[:, :-2] + img[:, 2:])
    else:
        img = ndimage.gaussian_filter(img, (0.0, sigma, sigma), truncate=3.0)
    if (g.h, g.w) != (out_h, out_w):  # box-downsample float planes: no early rounding
        planes = [Image.fromarray(ch).resize((out_w, out_h), Image.BOX) for ch in img]
        img = np.stack([np.asarray(p) for p in planes])
    noise = rng.random((3, out_h, out_w), dtype=np.float32) - 0.5  # uniform: cheap to draw
    img = img * 255.0 + noise * rng.uniform(3.0, 10.0) + 0.5
    return np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0))


def _atypia(rng: np.random.Generator, label: str) -> float:
    # Overlapping distributions on purpose: ~15% atypical nevi and featureless melanomas.
    if label == "nevus":
        return float(rng.uniform(0.3, 0.6) if rng.random() < 0.15 else rng.beta(1.5, 7.0))
    return float(rng.uniform(0.1, 0.4) if rng.random() < 0.15 else rng.beta(4.0, 1.8))


def render_lesion(
    label: str, rng: np.random.Generator, height_px: int, width_px: int
) -> tuple[np.ndarray, dict]:
    """Return (uint8 HxWx3 RGB image, attrs) for one procedural lesion of class `label`.

    attrs (JSON-serialisable): hair, hair_fraction (mean hair coverage over all pixels),
    lesion_radius_px (max distance of lesion pixels from lesion_center_px, output px),
    lesion_center_px ([x, y]), field_border, glare, bubble, skin_tone (0 light .. 1 dark),
    strength (latent atypia for nevus/melanoma, structure strength for keratosis).
    """
    if label not in CLASSES:
        raise ValueError(f"unknown lesion label {label!r}; expected one of {CLASSES}")
    if min(height_px, width_px) < _MIN_SIZE:
        raise ValueError(
            f"image must be at least {_MIN_SIZE}x{_MIN_SIZE} px, got {height_px}x{width_px}"
        )
    k = max(1, math.ceil(_WORK_MIN / min(height_px, width_px)))
    g, lay = make_grid(rng, height_px * k, width_px * k), Layers()
    base, tone = _skin(rng, g, lay)
    if label == "seborrheic_keratosis":
        shp, strength = _keratosis(rng, g, lay)
    else:
        strength = _atypia(rng, label)
        shp = _melanocytic(rng, g, lay, strength)
    od = np.zeros((3, g.h, g.w), np.float32)  # channel-first: fast, contiguous planes
    for name, dens in lay.od.items():
        for c in range(3):
            od[c] += ABSORB[name][c] * dens
    img = base[:, None, None] * np.exp(-od)
    for name, wmap in lay.white.items():
        img += (_WHITE[name][:, None, None] - img) * np.clip(wmap, 0.0, 1.0)
    hair, hair_fraction = bool(rng.random() < 0.3), 0.0
    if hair:  # hairs lie on the skin surface, above the pigment
        alpha = _hairs(rng, g) * rng.uniform(0.8, 0.95)
        col = rng.uniform(0.05, 0.2) * np.array([1.0, 0.85, 0.75], np.float32)
        img += (col[:, None, None] - img) * alpha
        hair_fraction = float(alpha.mean())
    img, extra = _optics(rng, g, img)
    out = _finish(rng, g, img, height_px, width_px)
    u_out = float(min(height_px, width_px))
    centre = [width_px / 2 + g.off[0] * u_out, height_px / 2 + g.off[1] * u_out]
    attrs = {"label": label, "hair": hair, "hair_fraction": hair_fraction, "skin_tone": tone}
    attrs.update(lesion_radius_px=shp.extent * u_out, lesion_center_px=centre, **extra)
    return out, {**attrs, "strength": float(strength)}
