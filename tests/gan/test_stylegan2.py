"""The StyleGAN2 family, lazy regularization and transitional conditioning (issue 13)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from gan_helpers import ROOT, state_equal, tiny_config

from lesiongan.config import load_config
from lesiongan.errors import ConfigError
from lesiongan.gan.augment import DiffAugment
from lesiongan.gan.checkpoint import (
    CheckpointError,
    check_compatible,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
)
from lesiongan.gan.config import GanConfig
from lesiongan.gan.families import build_networks, set_cond_blend
from lesiongan.gan.inference import generate, load_gan
from lesiongan.gan.loss import GanLoss
from lesiongan.gan.networks import PgganNetworkConfig
from lesiongan.gan.run import run_training
from lesiongan.gan.schedule import build_phases, total_nimg, transition_blend
from lesiongan.gan.sg2_layers import ModulatedConv2d, Resample2x
from lesiongan.gan.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from lesiongan.utils.stage import ConfigChangedError

SG2_TINY = ROOT / "configs" / "sg2-tiny.yaml"
# The run every test below shares: path length regularization on, and the class signal fading
# in over [0.2, 0.6] kimg, so that resuming at 0.4 kimg crosses both lazy clocks and the blend.
RUN = {"loss.pl_weight": 2.0, "conditioning.transition_kimg": [0.2, 0.6]}


def sg2_config(**overrides: object) -> GanConfig:
    return load_config(GanConfig, SG2_TINY, overrides)


def sg2_nets(**overrides: object) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    return build_networks(sg2_config(**overrides), 3)


@pytest.fixture(scope="module")
def sg2_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sg2") / "full"
    run_training(tiny_dataset, out, sg2_config(**RUN))
    return out


# -- layers and networks ---------------------------------------------------------------------
def test_demodulated_conv_keeps_unit_variance() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 32, 3, w_dim=16)
    with torch.no_grad():
        conv.affine.bias.normal_(1.0, 2.0)  # styles far from 1: demodulation must undo them
    x, w = torch.randn(8, 64, 24, 24), torch.randn(8, 16) * 3
    with torch.no_grad():
        var = conv(x, w)[..., 1:-1, 1:-1].var(dim=(1, 2, 3))  # interior: borders are zero padded
    assert ((var > 0.85) & (var < 1.15)).all(), var
    conv.demodulate = False
    with torch.no_grad():
        assert conv(x, w).var() > 2.0  # without demodulation the styles scale the output


def test_fir_upsampling_is_bilinear_inside_and_down_keeps_constants() -> None:
    x = torch.randn(2, 3, 8, 8)
    up = Resample2x("up")(x)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1])
    down = Resample2x("down")(torch.full((1, 2, 8, 8), 3.0))
    assert down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full((1, 2, 2, 2), 3.0))


def test_factory_builds_the_family_and_shapes() -> None:
    G, D = sg2_nets()
    assert isinstance(G, StyleGAN2Generator) and isinstance(D, StyleGAN2Discriminator)
    z, c = torch.randn(4, 16), torch.tensor([0, 1, 2, 0])
    img = G(z, c, 0, 0.3)  # stage and alpha are accepted and ignored
    assert img.shape == (4, 3, 16, 16)
    assert D(img, c, 0, 0.3).shape == (4,)
    G2, _ = build_networks(tiny_config(), 3)
    assert type(G2).__name__ == "Generator"


def test_mapping_label_changes_w_and_the_blend_removes_it() -> None:
    G, _ = sg2_nets()
    G.eval()
    z, c = torch.randn(1, 16).repeat(3, 1), torch.tensor([0, 1, 2])
    w = G.mapping(z, c)
    assert (w[0] - w[1]).abs().max() > 1e-3 and (w[1] - w[2]).abs().max() > 1e-3
    set_cond_blend([G], 0.0)
    w = G.mapping(z, c)
    torch.testing.assert_close(w[0], w[1])
    torch.testing.assert_close(w[0], w[2])
    with pytest.raises(ValueError, match="needs labels"):
        G(z, None)


@pytest.mark.parametrize("arch", ["pggan", "stylegan2"])
def test_zero_blend_makes_both_families_unconditional(arch: str) -> None:
    torch.manual_seed(0)
    cfg = tiny_config() if arch == "pggan" else sg2_config()
    G, D = build_networks(cfg, 3)
    G.eval()
    z, c = torch.randn(1, 16).repeat(3, 1), torch.tensor([0, 1, 2])
    stage = 2 if arch == "pggan" else None
    assert (G(z, c, stage)[0] - G(z, c, stage)[1]).abs().max() > 1e-4
    set_cond_blend([G, D], 0.0)
    imgs = G(z, c, stage)
    torch.testing.assert_close(imgs[0], imgs[1])
    scores = D(imgs[:1].repeat(3, 1, 1, 1), c, stage)
    torch.testing.assert_close(scores, scores[:1].expand(3))


def test_w_avg_is_tracked_per_class_while_training_only() -> None:
    G, _ = sg2_nets()
    z = torch.randn(6, 16)
    G(z, torch.tensor([0, 0, 0, 0, 1, 1]))  # train mode: classes 0 and 1 move, 2 does not
    w_avg = G.mapping.w_avg
    assert w_avg[0].abs().sum() > 0 and w_avg[1].abs().sum() > 0 and w_avg[2].abs().sum() == 0
    before = w_avg.clone()
    G.eval()
    G(z, torch.zeros(6, dtype=torch.long))
    assert torch.equal(G.mapping.w_avg, before)


def test_path_length_regularization_updates_mean_and_gradients() -> None:
    G, D = sg2_nets(**{"loss.pl_weight": 2.0})
    loss = GanLoss(G, D, DiffAugment("", 0.0), sg2_config(**{"loss.pl_weight": 2.0}).loss)
    stats = loss.accumulate_gradients(
        "Greg", None, None, torch.randn(8, 16), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), 0, None
    )
    assert torch.isfinite(stats["reg_G"]) and G.pl_mean > 0
    assert G.mapping.fcs[0].weight.grad is not None and G.layers[-1].conv.weight.grad is not None


# -- losses, schedule, config ----------------------------------------------------------------
def test_lazy_r1_is_scaled_by_its_interval() -> None:
    real, c = torch.rand(4, 3, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 0])
    z = torch.randn(4, 16)
    regs = {}
    for interval in (1, 4):
        G, D = sg2_nets()
        cfg = sg2_config(**{"loss.r1_interval": interval}).loss
        loss = GanLoss(G, D, DiffAugment("", 0.0), cfg)
        for phase in ("Dboth", "Dmain"):
            torch.manual_seed(1)  # G's noise
            regs[interval, phase] = loss.accumulate_gradients(phase, real, c, z, c, 0, None)["reg"]
    assert regs[1, "Dboth"] > 0
    torch.testing.assert_close(regs[4, "Dboth"], 4 * regs[1, "Dboth"])
    assert regs[1, "Dmain"] == 0 and regs[4, "Dmain"] == 0


def test_transition_blend_is_zero_then_linear_then_one() -> None:
    assert transition_blend(0.0, 2.0, 4.0) == 0.0
    assert transition_blend(1.999, 2.0, 4.0) == 0.0
    assert transition_blend(2.0, 2.0, 4.0) == 0.0
    assert transition_blend(2.5, 2.0, 4.0) == pytest.approx(0.25)
    assert transition_blend(3.0, 2.0, 4.0) == pytest.approx(0.5)
    assert transition_blend(4.0, 2.0, 4.0) == 1.0
    assert transition_blend(100.0, 2.0, 4.0) == 1.0
    assert (transition_blend(2.9, 3.0, 3.0), transition_blend(3.0, 3.0, 3.0)) == (0.0, 1.0)


def test_schedule_is_one_full_resolution_phase() -> None:
    cfg = sg2_config()
    phases = build_phases(cfg.network, cfg.schedule)
    assert [(p.resolution, p.stage, p.kind) for p in phases] == [(16, 2, "stabilize")]
    assert total_nimg(phases) == 800


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"loss.pl_weight": 1.0}, "pl_weight"),
        ({"network.truncation_psi": 0.7}, "truncation_psi"),
        ({"loss.kind": "wgan-gp", "loss.r1_interval": 4}, "r1_interval"),
        ({"conditioning.transition_kimg": [4, 2]}, "start <= end"),
    ],
)
def test_invalid_combinations_are_config_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny_config(**overrides)


def test_arch_is_part_of_checkpoint_compatibility(tmp_path: Path) -> None:
    sg2 = sg2_config().model_dump(mode="json")["network"]
    pggan = tiny_config(**{"network.resolution": 16}).model_dump(mode="json")["network"]
    with pytest.raises(CheckpointError, match="arch='stylegan2' but the config says 'pggan'"):
        check_compatible(tmp_path / "c.pt", sg2, pggan, ["a"], ["a"])
    # a sampling setting may change; an older checkpoint without the new keys is a pggan one
    check_compatible(tmp_path / "c.pt", sg2, {**sg2, "truncation_psi": 0.5}, ["a"], ["a"])
    old = {k: v for k, v in PgganNetworkConfig().model_dump(mode="json").items() if k != "arch"}
    check_compatible(tmp_path / "c.pt", old, PgganNetworkConfig().model_dump(mode="json"), [], [])


# -- training through the shared trainer -----------------------------------------------------
def test_tiny_run_finishes_and_writes_checkpoints(sg2_run: Path) -> None:
    assert json.loads((sg2_run / "status.json").read_text())["state"] == "done"
    stats = [json.loads(line) for line in (sg2_run / "stats.jsonl").read_text().splitlines()]
    assert stats[-1]["kimg"] == pytest.approx(0.8) and {s["resolution"] for s in stats} == {16}
    for s in stats:
        assert all(torch.isfinite(torch.tensor(s[k])) for k in ("loss_G", "loss_D", "reg", "reg_G"))
    assert len(list((sg2_run / "grids").glob("fakes-*.png"))) == len(stats)
    state = load_checkpoint(latest_checkpoint(sg2_run))
    assert state["config"]["network"]["arch"] == "stylegan2" and state["batch_idx"] == 50
    assert 1 <= len(list_checkpoints(sg2_run)) <= 3
    # G_ema follows G's buffers (mean w) and moved away from the initialization
    assert torch.equal(state["G_ema"]["mapping.w_avg"], state["G"]["mapping.w_avg"])
    init, _ = sg2_nets()
    assert not torch.equal(init.state_dict()["const"], state["G_ema"]["const"])


def test_resume_equals_uninterrupted(sg2_run: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    cfg = sg2_config(**RUN)
    assert not run_training(tiny_dataset, out, cfg, stop_at_kimg=0.4).done
    assert run_training(tiny_dataset, out, cfg, resume=True).done
    a = load_checkpoint(latest_checkpoint(sg2_run))
    b = load_checkpoint(latest_checkpoint(out))
    for key in ("G", "D", "G_ema"):
        assert state_equal(a[key], b[key]), key
    assert torch.equal(a["augment"]["p"], b["augment"]["p"])
    pggan = tiny_config(**{"network.resolution": 16})
    with pytest.raises(ConfigChangedError, match="exists with other settings"):
        run_training(tiny_dataset, out, pggan, resume=True)
    every_key = tuple(pggan.model_dump())  # even when every key may change, the weights may not
    with pytest.raises(CheckpointError, match="arch"):
        run_training(tiny_dataset, out, pggan, resume=True, may_change=every_key)


def test_trainer_runs_lazy_phases_and_the_blend_schedule(
    tiny_dataset: Path, tmp_path: Path, monkeypatch
) -> None:
    seen: list[tuple[str, float]] = []
    original = GanLoss.accumulate_gradients

    def record(self, phase, *args, **kwargs):
        seen.append((phase, float(self.D_reg.cond_blend)))
        return original(self, phase, *args, **kwargs)

    monkeypatch.setattr(GanLoss, "accumulate_gradients", record)
    cfg = sg2_config(
        **{**RUN, "schedule.final_kimg": 0.32, "conditioning.transition_kimg": [0.08, 0.24]}
    )
    run_training(tiny_dataset, tmp_path / "run", cfg)
    d_phases = [p for p, _ in seen if p.startswith("D")]
    assert d_phases[:5] == ["Dboth", "Dmain", "Dmain", "Dmain", "Dboth"]  # r1_interval 4
    assert sum(p == "Greg" for p, _ in seen) == 5  # 20 steps, pl_interval 4
    blends = [b for p, b in seen if p.startswith("D")]  # one per step, at 16 images per step
    assert blends[:6] == [0.0] * 6 and blends[-5:] == [1.0] * 5
    assert blends[8] == pytest.approx((8 * 16 / 1000 - 0.08) / 0.16)
    assert blends == sorted(blends)


def test_nan_loss_rolls_back(tiny_dataset: Path, tmp_path: Path, monkeypatch, caplog) -> None:
    original = GanLoss.accumulate_gradients
    calls = {"n": 0}

    def flaky(self, phase, *args, **kwargs):
        stats = original(self, phase, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 40:  # in the second tick
            stats = {k: v * float("nan") for k, v in stats.items()}
        return stats

    monkeypatch.setattr(GanLoss, "accumulate_gradients", flaky)
    with caplog.at_level(logging.WARNING):
        assert run_training(tiny_dataset, tmp_path / "run", sg2_config()).done
    assert any("rolling back" in r.message for r in caplog.records)
    last = json.loads((tmp_path / "run" / "stats.jsonl").read_text().splitlines()[-1])
    assert last["rollbacks"] == 1


# -- sampling ------------------------------------------------------------------------------
def test_samples_depend_only_on_seed_and_class(sg2_run: Path) -> None:
    gan = load_gan(sg2_run)
    assert isinstance(gan.G, StyleGAN2Generator) and not gan.G.training
    a = generate(gan, [11, 12, 13], [0, 1, 2])
    torch.testing.assert_close(generate(gan, [12], [1])[0], a[1])  # not the batch, not the call
    same_z = generate(gan, [5, 5, 5], [0, 1, 2])
    assert (same_z[0] - same_z[1]).abs().max() > 1e-3 and (same_z[1] - same_z[2]).abs().max() > 1e-3


def test_truncation_pulls_towards_the_class_mean_w(sg2_run: Path) -> None:
    G = load_gan(sg2_run).G
    z, c = torch.randn(4, 16), torch.tensor([0, 0, 1, 1])
    at_mean = G(z, c, truncation_psi=0.0)
    torch.testing.assert_close(at_mean[0], at_mean[1])
    assert (at_mean[1] - at_mean[2]).abs().max() > 1e-3
    half = G(z, c, truncation_psi=0.5)
    full = G(z, c)
    spread = lambda x: (x[0] - x[1]).abs().mean()  # noqa: E731
    assert spread(at_mean) < spread(half) < spread(full)


@pytest.mark.parametrize("name", ["sg2-tiny", "sg2-isic2017-cpu"])
def test_recipes_are_valid_stylegan2_configs(name: str) -> None:
    cfg = load_config(GanConfig, ROOT / "configs" / f"{name}.yaml", {})
    assert cfg.network.arch == "stylegan2"
    assert len(build_phases(cfg.network, cfg.schedule)) == 1


@pytest.mark.slow
def test_sigkill_then_same_command_with_resume_is_bit_identical(
    sg2_run: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    """sg2-tiny (with the shared run's path length and transition settings, so the kill and
    the resume cross the lazy clocks and the blend) killed with SIGKILL, then the same command
    with --resume: bit-identical to the uninterrupted run."""
    import yaml
    from gan_helpers import assert_sigkill_resume_is_bit_identical

    from lesiongan.config import save_config

    cfg = tmp_path / "sg2.yaml"
    save_config(sg2_config(**RUN), cfg)
    assert yaml.safe_load(cfg.read_text())["seed"] == 0
    assert_sigkill_resume_is_bit_identical(cfg, sg2_run, tiny_dataset, tmp_path)
