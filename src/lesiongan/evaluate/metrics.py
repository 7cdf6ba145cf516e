"""The metric registry: every audit number's name, function, keys and direction, in one place.

Like ``metric_main`` in stylegan2-ada-pytorch, a metric is registered once with the keys it
writes into ``metrics.json``; reports, the generators head to head, the experiments and the CLI
read keys, labels and directions from here instead of keeping their own lists.

* :class:`Key`: one number (``fid``), its label (``FID``), its direction (higher is better,
  lower is better, or ``None`` when near the real images' own value is right, as for MS-SSIM or
  C_T) and the tables (views) it appears in.
* :class:`Metric`: a function and the keys it returns. Realism metrics take a :class:`Pair`
  (features and pixels of a reference and a compared set) and are computed for the synthetic
  images and for the real-vs-real floor (``<key>_floor``), overall and per class
  (``<key>_<class>``). Other audits register their keys with ``fn=None`` (they are computed by
  their own stage; the keys are what consumers need).

``check_comparable(rows)`` refuses, in one line, to compare audits made at different sample
sizes: every size-dependent metric (FID, KID, precision, recall, density, coverage) moves with n.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesiongan.errors import LesionganError

HIGHER, LOWER = True, False


@dataclass(frozen=True)
class Key:
    name: str
    label: str
    higher_is_better: bool | None
    digits: int = 2
    views: frozenset[str] = frozenset()  # table, per_class, verdict, curve
    aux: bool = False  # an interval bound or a spread: shown beside its key, never ranked


@dataclass(frozen=True)
class Pair:
    """What a realism metric compares: the reference real set and a compared set (synthetic
    images or, for the floor, other real images), as features and (optionally) pixels."""

    ref: np.ndarray
    cmp: np.ndarray
    ref_px: np.ndarray | None = None
    cmp_px: np.ndarray | None = None
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)


MetricFn = Callable[[Pair], dict[str, float]]


@dataclass(frozen=True)
class Metric:
    name: str
    audit: str  # realism | memorization | hair | structures
    keys: tuple[Key, ...]
    fn: MetricFn | None = None
    needs_pixels: bool = False
    doc: str = ""


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str, audit: str, keys: Iterable[Key], needs_pixels: bool = False
) -> Callable[[MetricFn | None], MetricFn | None]:
    """Decorator: ``@register_metric("fid", "realism", (Key(...), ...))`` above its function."""

    def wrap(fn: MetricFn | None) -> MetricFn | None:
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().split("\n")[0] if fn else ""
        METRICS[name] = Metric(name, audit, tuple(keys), fn, needs_pixels, doc)
        return fn

    return wrap


def _v(*names: str) -> frozenset[str]:
    return frozenset(names)


# ---- realism: computed per pair (synthetic vs reference, and the floor) at equal n ----


@register_metric(
    "fid",
    "realism",
    (
        Key("fid", "FID", LOWER, 1, _v("table", "per_class", "verdict", "curve")),
        Key("fid_ci_low", "FID 95 % CI low", LOWER, 1, aux=True),
        Key("fid_ci_high", "FID 95 % CI high", LOWER, 1, aux=True),
    ),
)
def _fid(p: Pair) -> dict[str, float]:
    """Fréchet distance of Gaussians fitted to the features, with a bootstrap interval."""
    from lesiongan.evaluate.realism import bootstrap_fid, compute_fid

    low, high = bootstrap_fid(p.ref, p.cmp, int(p.options.get("fid_bootstrap", 0)), p.seed)
    return {"fid": compute_fid(p.ref, p.cmp), "fid_ci_low": low, "fid_ci_high": high}


@register_metric(
    "kid",
    "realism",
    (
        Key("kid_mean", "KID", LOWER, 2, _v("table")),
        Key("kid_std", "KID std", LOWER, 2, aux=True),
    ),
)
def _kid(p: Pair) -> dict[str, float]:
    """Unbiased MMD² with the cubic kernel, mean and std over random subsets."""
    from lesiongan.evaluate.realism import KID_SUBSETS, compute_kid

    mean, std = compute_kid(p.ref, p.cmp, p.seed, int(p.options.get("kid_subsets", KID_SUBSETS)))
    return {"kid_mean": mean, "kid_std": std}


@register_metric(
    "prdc",
    "realism",
    (
        Key("precision", "precision", HIGHER, 2, _v("table", "curve")),
        Key("recall", "recall", HIGHER, 2, _v("table", "per_class", "verdict", "curve")),
        Key("density", "density", HIGHER, 2, _v("table")),
        Key("coverage", "coverage", HIGHER, 2, _v("table", "per_class", "verdict", "curve")),
    ),
)
def _prdc(p: Pair) -> dict[str, float]:
    """Precision, recall (k = 3), density and coverage (k = 5) of the k-NN manifolds."""
    from lesiongan.evaluate.realism import compute_prdc

    return compute_prdc(p.ref, p.cmp)


@register_metric("swd", "realism", (Key("swd", "SWD", LOWER, 2),), needs_pixels=True)
def _swd(p: Pair) -> dict[str, float]:
    """Multi-scale sliced Wasserstein distance of Laplacian-pyramid patches (x 1e3)."""
    from lesiongan.evaluate.swd import compute_swd

    assert p.ref_px is not None and p.cmp_px is not None
    return compute_swd(p.ref_px, p.cmp_px, p.seed)


# computed by the realism stage outside the pairs: within-set diversity, and FID over n
register_metric(
    "ms_ssim", "realism", (Key("ms_ssim", "MS-SSIM", None, 3, _v("table", "per_class")),)
)(None)
register_metric("fid_inf", "realism", (Key("fid_inf", "FID∞", LOWER, 1),))(None)

# ---- the other audits (computed by their stages; registered for their keys) ----
register_metric(
    "memorization",
    "memorization",
    (
        Key("ct_statistic", "C_T", None, 1, _v("table")),
        Key("ct_p_value", "C_T p", None, 3, aux=True),
        Key("authenticity", "authenticity", HIGHER, 2),
        Key("n_near_duplicates", "near-dup.", LOWER, 0, _v("table")),
        Key("near_duplicate_fraction", "near-dup. fraction", LOWER, 3),
        Key("nn_distance_ratio", "NN distance ratio", None, 2),
    ),
)(None)
register_metric(
    "hair",
    "hair",
    (
        Key("hair_fraction_real_mean", "hair fraction (real)", None, 3),
        Key("hair_fraction_synthetic_mean", "hair fraction (synthetic)", None, 3),
        Key("hair_fraction_wasserstein", "hair fraction W1", LOWER, 3),
    ),
)(None)
STRUCTURES = ("hair", "vignette", "ruler", "ink")
register_metric(
    "structures",
    "structures",
    tuple(
        Key(f"prevalence_{s}_{side}", f"{s} ({side})", None, 2)
        for s in STRUCTURES
        for side in ("real", "synthetic")
    ),
)(None)

# the numbers that move with the number of images compared (the rows must share n)
SIZE_DEPENDENT = frozenset(
    {"fid", "kid_mean", "precision", "recall", "density", "coverage", "swd", "fid_ci_low"}
)


def realism_metrics() -> list[Metric]:
    """The metrics computed for every pair, in registry order."""
    return [m for m in METRICS.values() if m.audit == "realism" and m.fn is not None]


def keys(audit: str, aux: bool = False) -> tuple[str, ...]:
    """Every key an audit writes (overall, without ``_floor`` / class suffixes)."""
    return tuple(
        k.name for m in METRICS.values() if m.audit == audit for k in m.keys if aux or not k.aux
    )


def keys_in(view: str, audit: str = "realism") -> tuple[str, ...]:
    """The keys of an audit a table shows, in registry order; views: ``table``, ``per_class``,
    ``verdict``, ``curve``."""
    return tuple(
        k.name for m in METRICS.values() if m.audit == audit for k in m.keys if view in k.views
    )


def key(name: str) -> Key:
    for m in METRICS.values():
        for k in m.keys:
            if k.name == name:
                return k
    raise KeyError(f"no metric writes the key {name!r}")


def label(name: str) -> str:
    return key(name).label


def higher_is_better(name: str) -> bool | None:
    return key(name).higher_is_better


def with_floor_and_classes(names: Iterable[str], classes: Iterable[str]) -> list[str]:
    """``k``, ``k_floor``, ``k_<class>``, ``k_<class>_floor`` for every name, in that order."""
    out: list[str] = []
    classes = list(classes)
    for k in names:
        out += [k, f"{k}_floor"]
        for c in classes:
            out += [f"{k}_{c}", f"{k}_{c}_floor"]
    return out


def check_comparable(rows: Mapping[str, Mapping[str, Any]], what: str = "realism audits") -> None:
    """One line when the rows were measured at different numbers of images (``n``, and ``n_<c>``
    per class). Rows that do not record ``n`` (audits older than equal-n) pass only when none
    records it."""
    sizes = {name: r.get("n") for name, r in rows.items()}
    known = {k: v for k, v in sizes.items() if v is not None}
    if not known:
        return
    if len(known) != len(sizes) or len(set(known.values())) > 1:
        shown = ", ".join(f"{k} n={v if v is not None else 'unknown'}" for k, v in sizes.items())
        raise LesionganError(
            f"cannot compare {what} made at different numbers of images ({shown}); "
            "FID, KID, precision, recall, density and coverage move with n: audit them at "
            "equal n"
        )
    for r in rows.values():
        for c in r.get("classes") or []:
            per = {k: v.get(f"n_{c}") for k, v in rows.items()}
            if len(set(per.values())) > 1:
                shown = ", ".join(f"{k} n={v}" for k, v in per.items())
                raise LesionganError(
                    f"cannot compare {what} made at different numbers of {c} images ({shown}); "
                    "audit them at equal n"
                )
        break
