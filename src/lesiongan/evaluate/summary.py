"""Markdown tables of committed audit results, for the documentation pages.

The pages quote audit numbers only between markers (``<!-- audit:NAME -->`` ...
``<!-- /audit:NAME -->``); ``tests/test_docs_audit.py`` checks that each block equals
:func:`render_audit_block` of the committed files, and ``scripts/render_audit_blocks.py`` prints
them. NAME is one of:

* ``structure-validation``: the fine-structure detectors' cross-validated precision and recall
  on the hand labels (``evaluate/data/structure_validation.json``);
* ``feature-size``: the ImageNet features at 128 px against 224 px
  (``benchmarks/results/audit_features_cpu.json``);
* any other NAME: a folder ``docs/results/NAME`` of audits, one sub-folder per synthetic set,
  each holding ``realism/``, ``memorization/`` and ``structures/`` (``eval`` outputs):
  FID with its floor and n, C_T per class, and the prevalence of the fine structures. When the
  folder holds ``eye_check.csv`` (``structure,run,image_id,sheet_position,present``: synthetic
  images a detector flagged, looked at by a person and labelled ``present`` 1 or 0), the
  structures table ends with how many of them show the structure: the detectors are validated
  on real images, and this row says whether their synthetic readings can be believed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from lesiongan.errors import DataError
from lesiongan.evaluate.structures import STRUCTURES, load_validation

AUDITS = ("realism", "memorization", "structures")
VALIDATION_SIZES = (64, 128, 256)
FEATURE_BENCH = Path("benchmarks") / "results" / "audit_features_cpu.json"


def _num(v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    return f"{v:.{digits}f}"


def _pct(v: Any) -> str:
    return "n/a" if v is None or v != v else f"{100 * v:.1f} %"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def load_audits(folder: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{set name: {audit: metrics}}`` of every sub-folder of ``folder`` holding at least one of
    the audits (a set whose other audits are not finished yet shows where it has numbers)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for sub in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        paths = {a: sub / a / "metrics.json" for a in AUDITS}
        found = {
            a: json.loads(p.read_text(encoding="utf-8")) for a, p in paths.items() if p.is_file()
        }
        if found:
            out[sub.name] = found
    if not out:
        raise DataError(f"{folder}: no sub-folder with a {', '.join(AUDITS)} audit")
    return out


def _having(audits: dict[str, dict[str, dict[str, Any]]], audit: str) -> dict[str, dict]:
    return {name: a[audit] for name, a in audits.items() if audit in a}


def render_fid(runs: dict[str, dict[str, Any]]) -> str:
    """FID (95 % bootstrap interval) and FID∞ of each set beside the real-vs-real floor at the
    same n, overall and per class (``runs``: realism metrics per set)."""
    classes = next(iter(runs.values()))["classes"]
    header = ["set", "n", "FID [95 % CI]", "FID∞", *(f"FID {c} (n)" for c in classes)]
    rows = []
    for name, m in runs.items():
        for label, sfx in ((name, ""), (f"{name}: floor (real test vs train)", "_floor")):
            ci = f"[{_num(m.get(f'fid_ci_low{sfx}'), 1)}, {_num(m.get(f'fid_ci_high{sfx}'), 1)}]"
            per = [f"{_num(m.get(f'fid_{c}{sfx}'), 1)} ({m.get(f'n_{c}')})" for c in classes]
            row = [label, str(m.get("n")), f"{_num(m.get(f'fid{sfx}'), 1)} {ci}"]
            rows.append([*row, _num(m.get(f"fid_inf{sfx}"), 1), *per])
    return _table(header, rows)


def render_ct(runs: dict[str, dict[str, Any]]) -> str:
    """Meehan et al.'s C_T per class and pooled (below -3: copying; above +3: underfitting)."""
    classes = next(iter(runs.values()))["classes"]
    header = ["set", *(f"C_T {c}" for c in classes), "C_T pooled (p)", "near-duplicates"]
    rows = []
    for name, m in runs.items():
        pooled = f"{_num(m.get('ct_statistic'), 2)} ({_num(m.get('ct_p_value'), 3)})"
        per = [_num(m.get(f"ct_statistic_{c}"), 2) for c in classes]
        rows.append([name, *per, pooled, str(m.get("n_near_duplicates"))])
    return _table(header, rows)


def render_prevalence(
    runs: dict[str, dict[str, Any]], eye: list[dict[str, str]] | None = None
) -> str:
    """Share of images showing each structure (95 % Wilson interval): the real training images
    once, then each synthetic set, then the detectors' precision / recall (on real images), and
    with ``eye`` (``eye_check.csv``) how many flagged synthetic images a person saw it in."""
    first = next(iter(runs.values()))
    header = ["images (n)", *STRUCTURES]

    def cells(m: dict[str, Any], side: str) -> list[str]:
        out = []
        for s in STRUCTURES:
            k = f"prevalence_{s}_{side}"
            out.append(f"{_pct(m[k])} [{_pct(m[f'{k}_ci_low'])}, {_pct(m[f'{k}_ci_high'])}]")
        return out

    rows = [[f"real {first['real_split']} ({first['n_real']})", *cells(first, "real")]]
    for name, m in runs.items():
        rows.append([f"{name} ({m['n_synthetic']})", *cells(m, "synthetic")])
    pr = [
        f"{_num(first[f'detector_{s}_precision'], 2)} / {_num(first[f'detector_{s}_recall'], 2)}"
        for s in STRUCTURES
    ]
    rows.append([f"detector precision / recall at {first['probe_size_px']} px", *pr])
    if eye is not None:
        rows.append(["flagged synthetic images that show it, by eye", *_eye_cells(eye)])
    return _table(header, rows)


EYE_CHECK = "eye_check.csv"


def load_eye_check(path: Path) -> list[dict[str, str]]:
    """The rows of an ``eye_check.csv``; one line names the file and the first bad row."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for i, r in enumerate(rows, start=2):
        if r.get("structure") not in STRUCTURES or r.get("present") not in ("0", "1"):
            raise DataError(
                f"{path}: line {i}: needs a structure ({', '.join(STRUCTURES)}) and present 0 or 1"
            )
    return rows


def _eye_cells(rows: list[dict[str, str]]) -> list[str]:
    """Per structure: ``k / n`` flagged synthetic images a person saw it in (n/a: none seen)."""
    out = []
    for s in STRUCTURES:
        seen = [r["present"] == "1" for r in rows if r["structure"] == s]
        out.append(f"{sum(seen)} / {len(seen)}" if seen else "n/a")
    return out


def eye_check_of(folder: Path) -> list[dict[str, str]] | None:
    """The folder's ``eye_check.csv``, when it has one."""
    path = Path(folder) / EYE_CHECK
    return load_eye_check(path) if path.is_file() else None


# (audit, title, render(runs, folder)): the structures table reads the folder's eye check too
SECTIONS = (
    ("realism", "FID with its real-vs-real floor at the same n", lambda r, f: render_fid(r)),
    ("memorization", "C_T per class (Meehan et al. 2020)", lambda r, f: render_ct(r)),
    (
        "structures",
        "Fine structures (share of images)",
        lambda r, f: render_prevalence(r, eye_check_of(f)),
    ),
)


def render_audit_folder(folder: Path) -> str:
    audits = load_audits(folder)
    parts = []
    for audit, title, render in SECTIONS:
        runs = _having(audits, audit)
        if runs:
            parts.append(f"{title}:\n\n{render(runs, folder)}")
    ids = sorted({m["features_id"] for a in audits.values() for m in a.values()})
    parts.append("Features: " + ", ".join(f"`{i}`" for i in ids) + ".")
    return "\n\n".join(parts)


def render_structure_validation() -> str:
    """Cross-validated precision / recall of each detector on the hand labels, per audit size."""
    v = load_validation()
    sizes = [s for s in VALIDATION_SIZES if str(s) in v]
    header = ["structure", "labels (present / absent)", *(f"{s} px" for s in sizes), "detector"]
    rows = []
    for s in STRUCTURES:
        first = v[str(sizes[0])][s]
        n, k = first["all"]["n"], first["all"]["n_present"]
        cv = [v[str(z)][s]["all"] for z in sizes]
        pr = [f"{_num(c['precision'], 2)} / {_num(c['recall'], 2)}" for c in cv]
        rows.append([s, f"{k} / {n - k}", *pr, first["detector"]])
    return _table(header, rows)


def render_feature_size(bench: dict[str, Any]) -> str:
    """The ImageNet features' input size: cost, FID floor and sensitivity, structure AUCs."""
    header = ["images", "features", "ms / image", "FID floor", "detail lost / floor"]
    header += [f"AUC {s}" for s in STRUCTURES]
    rows = []
    for audit_px, by_size in bench["by_audit_size"].items():
        for size, r in by_size.items():
            auc = [_num(r["structure_auc"][s], 2) for s in STRUCTURES]
            row = [f"{audit_px} px", f"{size} px", _num(r["ms_per_image"], 0)]
            row += [_num(r["fid_floor"], 1), _num(r["fid_detail_over_floor"], 2), *auc]
            rows.append(row)
    return _table(header, rows)


def render_audit_block(name: str, root: Path) -> str:
    """The text of ``<!-- audit:NAME -->`` for the repository at ``root``."""
    if name == "structure-validation":
        return render_structure_validation()
    if name == "feature-size":
        path = root / FEATURE_BENCH
        return render_feature_size(json.loads(path.read_text(encoding="utf-8")))
    return render_audit_folder(root / "docs" / "results" / name)
