"""``lesiongan turing ...``: run a visual Turing test (create a study, serve it, analyse it)."""

from __future__ import annotations

from pathlib import Path

import typer

from lesiongan.cli.console import err, out, progress_bar
from lesiongan.errors import ConfigError

app = typer.Typer(
    help="Visual Turing test: a web app in which clinicians judge real vs synthetic.",
    no_args_is_help=True,
)
DEFAULT_BASE = "http://127.0.0.1:8000"


def _names(raters: str | None, n_raters: int | None) -> list[str]:
    if raters is not None and n_raters is not None:
        raise ConfigError("give --raters NAMES or --n-raters K, not both")
    if raters is not None:
        names = [n.strip() for n in raters.split(",") if n.strip()]
        if not names:
            raise ConfigError("--raters: expected comma-separated names")
        return names
    k = 1 if n_raters is None else n_raters
    if k < 0:
        raise ConfigError("--n-raters must be 0 or more")
    return [f"rater-{i + 1}" for i in range(k)]


def _print_links(base_url: str, admin_token: str | None, raters) -> None:
    from lesiongan.turing.study import admin_url, rater_url

    if admin_token:
        out.print(f"admin:  {admin_url(base_url, admin_token)}", markup=False)
    for r in raters:
        out.print(f"rater {r.name}:  {rater_url(base_url, r.token)}", markup=False)


@app.command()
def create(
    dataset: Path = typer.Option(..., "--dataset", help="Prepared dataset (real images)."),
    synthetic: Path = typer.Option(..., "--synthetic", help="Synthetic directory (gan sample)."),
    db_path: Path = typer.Option(..., "--db", help="Study database file to create."),
    n_per_class: int = typer.Option(
        ..., "--n-per-class", help="Real images per class (and as many synthetic)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the image selection and rater orders."),
    split: str = typer.Option("test", "--split", help="Split the real images come from."),
    size: int | None = typer.Option(
        None,
        "--size",
        help="Side of the shown images in px (default: the smallest, no upsampling).",
    ),
    classes: str | None = typer.Option(
        None, "--classes", help="Comma-separated classes (default: those in --synthetic)."
    ),
    raters: str | None = typer.Option(None, "--raters", help="Rater names: alice,bob,..."),
    n_raters: int | None = typer.Option(
        None, "--n-raters", help="Number of raters named rater-1.. (default 1)."
    ),
    base_url: str = typer.Option(DEFAULT_BASE, "--base-url", help="Where 'serve' will listen."),
    force: bool = typer.Option(False, "--force", help="Replace an existing study database."),
) -> None:
    """Build a blinded study: N real + N synthetic images per class, re-encoded identically.

    Real images come from a split the GAN never saw (images listed in the synthetic directory's
    gan_train_images.csv are dropped). Prints the admin link and one secret link per rater.

        lesiongan turing create --dataset ds --synthetic syn --db study.sqlite --n-per-class 20
    """
    from lesiongan.config import load_config
    from lesiongan.turing.study import StudyConfig, run_create

    chosen = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    flags = {
        "n_per_class": ("--n-per-class", n_per_class),
        "seed": ("--seed", seed),
        "split": ("--split", split),
        "size_px": ("--size", size),
        "classes": ("--classes", chosen),
        "raters": ("--raters", _names(raters, n_raters)),
    }
    cfg = load_config(StudyConfig, flags=flags)
    with progress_bar("turing create") as progress:
        info = run_create(dataset, synthetic, db_path, cfg, force=force, progress=progress)
    out.print(
        f"wrote {info.db_path}: {info.n_items} images at {info.size_px} px, "
        f"{len(info.raters)} rater(s)",
        markup=False,
    )
    _print_links(base_url, info.admin_token, info.raters)
    out.print(f"serve it with: lesiongan turing serve --db {info.db_path}", markup=False)


@app.command()
def invite(
    db_path: Path = typer.Option(..., "--db", help="Study database."),
    names: list[str] = typer.Option(..., "--name", help="Rater name (repeat for several)."),
    base_url: str = typer.Option(DEFAULT_BASE, "--base-url", help="Where 'serve' listens."),
) -> None:
    """Add raters to a study (also while it is being served) and print their links."""
    from lesiongan.turing.study import run_invite

    _print_links(base_url, None, run_invite(db_path, names))


@app.command()
def serve(
    db_path: Path = typer.Option(..., "--db", help="Study database."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to listen on (0.0.0.0: every interface)."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    public_url: str | None = typer.Option(
        None,
        "--public-url",
        help="The address raters use when a reverse proxy serves the study, such as "
        "https://example.org/turing: form posts from it are accepted and every link is built "
        "from it. Without it links use http://HOST:PORT.",
    ),
) -> None:
    """Serve the study: raters open their links, the admin page shows progress.

    Listens on 127.0.0.1 unless told otherwise; for raters on other machines put it behind an
    HTTPS reverse proxy (tokens travel in the URL) and give its address as --public-url.
    """
    import uvicorn

    from lesiongan.turing import db
    from lesiongan.turing.app import bind_socket, build_app

    app_ = build_app(db_path, public_url=public_url)
    conn = db.open_study(db_path)
    try:
        admin_token, raters = db.get_meta(conn)["admin_token"], db.raters(conn)
    finally:
        conn.close()
    sock = bind_socket(host, port)  # a port in use is one line, before any link is printed
    shown = f"[{host}]" if ":" in host else host
    _print_links(public_url or f"http://{shown}:{port}", admin_token, raters)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            f"note: listening on {host}: reachable from other machines; use HTTPS in front",
            markup=False,
        )
    config = uvicorn.Config(app_, host=host, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


@app.command()
def results(
    db_path: Path = typer.Option(..., "--db", help="Study database."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory to create."),
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists."),
) -> None:
    """Per-rater accuracy, sensitivity and specificity (binomial test vs chance), Fleiss' kappa,
    per-image fool rate, accuracy by confidence and per class: CSV, JSON and plots."""
    from lesiongan.turing.results import run_results

    summary = run_results(db_path, out_dir, force=force)

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    out.print(
        f"{summary['n_answers']} answers from {summary['n_raters']} rater(s): accuracy "
        f"{fmt(summary['accuracy'])} (p={fmt(summary['binomial_p'])}), sensitivity "
        f"{fmt(summary['sensitivity'])}, specificity {fmt(summary['specificity'])}, "
        f"Fleiss' kappa {fmt(summary['fleiss_kappa'])}",
        markup=False,
    )
    out.print(f"wrote {out_dir}", markup=False)
