"""The audits of ``experiment generators``: their configs, what the results keep of them, and
which generator is best on each measure. Keys and directions come from the metric registry.

Every audit runs in the frozen ImageNet features (the default extractor), not in the features of
a classifier trained inside the experiment: the numbers do not move when the baseline changes,
and a set selected by that classifier is not judged by it. The real images' features are cached
(per dataset content and extractor) and so computed once for every curve point and generator.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from lesiongan.evaluate.metrics import higher_is_better, keys, keys_in
from lesiongan.evaluate.structures import STRUCTURES

# what the results keep of a realism audit (overall; per class with the class name appended)
REALISM = keys_in("table")
REALISM_EXTRA = ("fid_ci_low", "fid_ci_high", "fid_inf")  # with their floors, overall only
MEMORIZATION = keys("memorization", aux=True)
AUDITS = ("realism", "memorization", "structures")
NN_GRIDS = {"closest": "nn_closest_features.png", "random": "nn_random.png"}


def audit_config(kind: str, **kw: Any) -> Any:
    """An audit's config: the ImageNet features, the registry's defaults."""
    from lesiongan.evaluate.run import MemorizationConfig, RealismConfig, StructuresConfig

    cls = {
        "realism": RealismConfig,
        "memorization": MemorizationConfig,
        "structures": StructuresConfig,
    }[kind]
    return cls(**kw)


def realism_summary(m: dict[str, Any]) -> dict[str, Any]:
    keep = {k: m.get(k) for k in ("features", "features_id", "n_real", "n_synthetic", "n")}
    for c in m.get("classes", []):
        keep[f"n_{c}"] = m.get(f"n_{c}")
    for k in REALISM_EXTRA:
        keep[k] = m.get(k)
        keep[f"{k}_floor"] = m.get(f"{k}_floor")
    for k in REALISM:
        keep[k] = m.get(k)
        keep[f"{k}_floor"] = m.get(f"{k}_floor")
        for c in m.get("classes", []):
            keep[f"{k}_{c}"] = m.get(f"{k}_{c}")
            keep[f"{k}_{c}_floor"] = m.get(f"{k}_{c}_floor")
    return keep


def memorization_summary(m: dict[str, Any]) -> dict[str, Any]:
    keep = {k: m.get(k) for k in (*MEMORIZATION, "features_id", "flips", "ct_train_flips")}
    for c in m.get("classes", []):
        keep[f"ct_statistic_{c}"] = m.get(f"ct_statistic_{c}")
    return keep


def structures_summary(m: dict[str, Any], side: str = "synthetic") -> dict[str, Any]:
    """Prevalence of each structure among one side's images, with its interval."""
    keep: dict[str, Any] = {"n": m.get(f"n_{side}"), "image_size_px": m.get("image_size_px")}
    for s in STRUCTURES:
        for suffix in ("", "_ci_low", "_ci_high"):
            keep[f"{s}{suffix}"] = m.get(f"prevalence_{s}_{side}{suffix}")
    return keep


def structures_detectors(m: dict[str, Any]) -> dict[str, Any]:
    """The detectors' validated precision and recall at the audit's resolution."""
    out: dict[str, Any] = {"probe_size_px": m.get("probe_size_px")}
    for s in STRUCTURES:
        out[s] = {k: m.get(f"detector_{s}_{k}") for k in ("precision", "recall")}
    return out


def floor(per_gen: dict[str, dict[str, Any]]) -> dict[str, Any]:
    first = next(iter(per_gen.values()))["realism"]
    out = {k: first.get(f"{k}_floor") for k in (*REALISM, *REALISM_EXTRA)}
    if "n" in first:
        out["n"] = first["n"]
    return out


def best_by_measure(per_gen: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """The generator with the best final value of each measure that has a direction (MS-SSIM
    has none: near the real images' own value is right); ties and missing values give None."""
    measures = {k: higher_is_better(k) for k in REALISM}
    measures = {k: h for k, h in measures.items() if h is not None}
    measures["cas"] = True
    best: dict[str, str | None] = {}
    for key, higher in measures.items():
        vals = {}
        for name, e in per_gen.items():
            v = e.get("cas", {}).get("cas") if key == "cas" else e["realism"].get(key)
            if v is not None and np.isfinite(v):
                vals[name] = v if higher else -v
        top = sorted(vals.items(), key=lambda kv: kv[1], reverse=True)
        best[key] = top[0][0] if top and (len(top) == 1 or top[0][1] != top[1][1]) else None
    return best


def copy_audit_figures(out: Path, results: dict[str, Any]) -> list[str]:
    """Into ``figures/``, per generator: its nearest-neighbour grids (each synthetic image beside
    its closest training images), ``nn-NAME-closest|random.png``, and its fine-structure
    examples (the real and synthetic images each detector is surest of),
    ``structures-NAME.png``. Returns the names written."""
    written = []
    for name in results["generators"]:
        sources = {
            f"nn-{name}-{which}.png": out / "audit" / name / "memorization" / png
            for which, png in NN_GRIDS.items()
        }
        sources[f"structures-{name}.png"] = out / "audit" / name / "structures" / "examples.png"
        for target, src in sources.items():
            if src.is_file():
                shutil.copyfile(src, out / "figures" / target)
                written.append(target)
    return written
