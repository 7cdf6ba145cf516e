"""Runs written before family sections (one flat ``network:`` record for every family) keep
loading, resuming, sampling and being reused.

``data/main-config-*.yaml`` are the tiny recipes' configs as that code saved them;
:func:`old_layout` rewrites a config that way, and the test checks that it gives exactly those
files before using it on a run's ``config.yaml`` and checkpoints.
"""

from __future__ import annotations

import copy
import csv
import shutil
from pathlib import Path

import yaml
from gan_helpers import ROOT, state_equal, tiny_config

from lesiongan.config import load_config
from lesiongan.gan.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from lesiongan.gan.config import GanConfig
from lesiongan.gan.run import load_run_config, run_training
from lesiongan.gan.sample import SampleConfig, run_sample

DATA = Path(__file__).with_name("data")
SHORT = {
    "schedule.stabilize_kimg": 0.032,
    "schedule.fade_kimg": 0.032,
    "log.tick_kimg": 0.032,
    "log.snapshot_ticks": 1,
}
# StyleGAN2's keys at their defaults: what a pggan run's flat network section held
FLAT_SG2_KEYS = {"mapping_layers": 8, "mapping_lr_mult": 0.01, "truncation_psi": 1.0}


def old_layout(config: dict) -> dict:
    out = copy.deepcopy(config)
    if out["network"]["arch"] == "pggan":
        out["network"].update(FLAT_SG2_KEYS)
    return out


def to_old_layout(run: Path) -> None:
    """Rewrite a run's config.yaml and every checkpoint's config as the older code wrote them."""
    path = run / "config.yaml"
    path.write_text(yaml.safe_dump(old_layout(yaml.safe_load(path.read_text())), sort_keys=False))
    for ckpt in list_checkpoints(run):
        state = load_checkpoint(ckpt)
        state["config"] = old_layout(state["config"])
        save_checkpoint(ckpt, state)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_old_layout_is_what_the_older_code_saved() -> None:
    for name, recipe in (("pggan", "gan-tiny"), ("stylegan2", "sg2-tiny")):
        saved = yaml.safe_load((DATA / f"main-config-{name}.yaml").read_text())
        now = load_config(GanConfig, ROOT / "configs" / f"{recipe}.yaml").model_dump(mode="json")
        assert old_layout(now) == saved, name
        assert GanConfig.model_validate(saved).model_dump(mode="json") == now  # it migrates


def test_a_run_in_the_old_layout_samples_resumes_and_is_reused(
    cli, tiny_dataset: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(**SHORT)
    full = tmp_path / "full"
    assert run_training(tiny_dataset, full, cfg).done
    partial = tmp_path / "partial"
    assert not run_training(tiny_dataset, partial, cfg, stop_at_kimg=0.064).done
    old = tmp_path / "old"
    shutil.copytree(partial, old)
    to_old_layout(old)
    assert "mapping_layers" in (old / "config.yaml").read_text()
    assert "mapping_layers" in load_checkpoint(latest_checkpoint(old))["config"]["network"]
    assert load_run_config(old) == cfg

    # sampling: the same images and D scores as from the same weights in today's layout
    sample = SampleConfig(per_class={"melanoma": 3, "nevus": 2})
    a = _rows(run_sample(partial, tmp_path / "syn-new", sample).path)
    b = _rows(run_sample(old, tmp_path / "syn-old", sample).path)
    for row in a + b:
        del row["checkpoint_sha256"]  # the checkpoints' bytes differ by their config's layout
    assert a == b
    for ra in _rows(tmp_path / "syn-new"):
        new_png = (tmp_path / "syn-new" / ra["path"]).read_bytes()
        assert new_png == (tmp_path / "syn-old" / ra["path"]).read_bytes()

    # resuming with the same command (the saved config) ends where an uninterrupted run ends
    code, _, err = cli("gan", "train", tiny_dataset, "--out", old, "--resume")
    assert code == 0, err
    want, got = load_checkpoint(latest_checkpoint(full)), load_checkpoint(latest_checkpoint(old))
    assert got["cur_nimg"] == want["cur_nimg"]
    for key in ("G", "D", "G_ema"):
        assert state_equal(want[key], got[key]), key

    # finished: the same config in today's layout reuses it (its config.yaml is still the old one)
    assert "mapping_layers" in (old / "config.yaml").read_text()
    assert run_training(tiny_dataset, old, cfg).reused
