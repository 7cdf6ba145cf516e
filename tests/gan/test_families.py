"""The generator-family registry (issue 21): a family defined only in the tests trains, resumes
and samples through the shared code; what needs a discriminator is refused in one line; the
registry's errors name the keys."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import trivial_family  # registers the "trivial" family
from gan_helpers import state_equal, tiny_config

from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.run import run_classify
from lesiongan.config import load_config
from lesiongan.data.synthetic import load_synthetic
from lesiongan.errors import ConfigError, DataError, LesionganError
from lesiongan.gan.checkpoint import latest_checkpoint, load_checkpoint
from lesiongan.gan.config import GanConfig
from lesiongan.gan.families import families, get_family, register_family
from lesiongan.gan.inference import generate, load_gan, score_images
from lesiongan.gan.run import run_training
from lesiongan.gan.sample import SampleConfig, run_sample

TRIVIAL = {
    "network.arch": "trivial",
    "network.resolution": 16,
    "network.latent_dim": 8,
    "schedule.final_kimg": 0.096,
    "schedule.default_batch": 16,
    "optim.lr": 0.01,
    "log.tick_kimg": 0.032,
    "log.snapshot_ticks": 1,
    "log.grid_per_class": 2,
    "log.tensorboard": False,
}


def trivial_config(**overrides: object) -> GanConfig:
    return load_config(GanConfig, None, {**TRIVIAL, **overrides})


@pytest.fixture(scope="module")
def trivial_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trivial") / "run"
    assert run_training(tiny_dataset, out, trivial_config()).done
    return out


def test_the_family_is_registered_with_its_own_network_section() -> None:
    assert "trivial" in [f.name for f in families()]
    cfg = trivial_config(**{"network.spread": 0.5})
    assert type(cfg.network).__name__ == "TrivialNetworkConfig" and cfg.network.spread == 0.5
    assert "embed_dim" not in cfg.model_dump()["network"]  # no GAN keys in its section
    with pytest.raises(ConfigError, match=r"network\.embed_dim: a key of network\.arch: pggan"):
        trivial_config(**{"network.embed_dim": 64})


def test_a_new_family_trains_and_resumes_without_a_discriminator(
    trivial_run: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    stats = [json.loads(line) for line in (trivial_run / "stats.jsonl").read_text().splitlines()]
    assert [s["kimg"] for s in stats] == pytest.approx([0.032, 0.064, 0.096])
    assert all(torch.isfinite(torch.tensor(s["loss_G"])) for s in stats)
    assert {"loss_D", "reg"}.isdisjoint(stats[-1])  # no D phase ran
    state = load_checkpoint(latest_checkpoint(trivial_run))
    assert state["D"] is None and state["opt_D"] is None
    assert state["G"]["mean"].abs().sum() > 0  # trained away from its zero initialisation
    out = tmp_path / "interrupted"
    assert not run_training(tiny_dataset, out, trivial_config(), stop_at_kimg=0.048).done
    assert run_training(tiny_dataset, out, trivial_config(), resume=True).done
    assert state_equal(state["G_ema"], load_checkpoint(latest_checkpoint(out))["G_ema"])


def test_its_samples_are_a_valid_synthetic_directory_without_d_score(
    trivial_run: Path, tmp_path: Path
) -> None:
    out = run_sample(trivial_run, tmp_path / "syn", SampleConfig(per_class={"nevus": 3})).path
    syn = load_synthetic(out, ("melanoma", "seborrheic_keratosis", "nevus"))
    assert [r.d_score for r in syn.rows] == [None] * 3 and not syn.has_d_scores
    with open(out / "manifest.csv", newline="") as f:
        assert [r["d_score"] for r in csv.DictReader(f)] == [""] * 3
    info = json.loads((out / "synthetic.json").read_text())
    assert info["arch"] == "trivial" and info["real_scores"] is None
    assert "no discriminator" in info["real_scores_missing_reason"]
    # the images are the generator's, by seed
    gan = load_gan(trivial_run)
    assert generate(gan, [0], ["nevus"]).shape == (1, 3, 16, 16)


def test_what_needs_a_discriminator_is_refused_in_one_line(
    cli, trivial_run: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    cfg = SampleConfig(per_class={"nevus": 2}, select="d-score", keep=0.5)
    with pytest.raises(LesionganError, match=r"d-score needs a discriminator.*'trivial' has none"):
        run_sample(trivial_run, tmp_path / "sel", cfg)
    assert not (tmp_path / "sel").exists()
    code, _, err = cli(
        "gan", "sample", trivial_run, "--out", tmp_path / "cli", "--per-class", "nevus=2",
        "--select", "d-score", "--keep", "0.5",
    )  # fmt: skip
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "needs a discriminator" in err and not (tmp_path / "cli").exists()
    gan = load_gan(trivial_run)
    with pytest.raises(LesionganError, match="scoring images needs a discriminator"):
        score_images(gan, torch.zeros(1, 3, 16, 16), ["nevus"])
    with pytest.raises(LesionganError, match=r"truncation needs network\.arch: stylegan2"):
        generate(gan, [0], ["nevus"], truncation_psi=0.5)
    # soft labels calibrate the discriminator's scores: refused before any training
    syn = run_sample(trivial_run, tmp_path / "syn", SampleConfig(per_class={"melanoma": 4})).path
    clf = ClassifyConfig(
        strategy="synthetic-balance+soft-label", image_size=16, epochs=1, batch_size=8
    )
    with pytest.raises(DataError, match=r"no d_score.*'trivial' has no discriminator") as exc:
        run_classify(tiny_dataset, tmp_path / "clf", clf, synthetic=syn)
    assert "\n" not in str(exc.value) and not (tmp_path / "clf").exists()


def test_registry_errors_are_one_line_and_name_the_family(cli, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"network\.arch: 'nope' is not a generator family"):
        tiny_config(**{"network.arch": "nope"})
    # a key of the other built-in family names it; that family's default is dropped (an older
    # run's flat network section), and switching family through --set keeps the shared keys
    with pytest.raises(ConfigError, match=r"network\.mapping_layers: a key of network\.arch: sty"):
        tiny_config(**{"network.mapping_layers": 4})
    assert "mapping_layers" not in tiny_config(**{"network.mapping_layers": 8}).model_dump()
    sg2 = tiny_config(**{"network.arch": "stylegan2"})
    assert sg2.network.mapping_layers == 8 and sg2.network.fmap_max == 16
    with pytest.raises(ValueError, match="already registered"):
        register_family(type("Other", (trivial_family.Trivial,), {})())
    assert get_family("trivial") is not None
    code, _, err = cli("gan", "train", tmp_path, "--out", tmp_path / "r", "--set",
                       "network.arch=nope", "--dry-run")  # fmt: skip
    assert code == 1 and len(err.strip().splitlines()) == 1 and "not a generator family" in err
