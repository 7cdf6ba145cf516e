"""``GanLoss`` pinned by hand: with a linear D, losses, penalties and gradients have closed forms.

For D(x) = <w, x> + b the gradient of D with respect to its input is w for every image, so
R1 = gamma / 2 * |w|^2 and the WGAN-GP penalty is lambda * (|w| - t)^2 / t^2 at every
interpolate (the 1 / t^2 scaling is that of the PGGAN code, Karras et al. 2018). The losses cast
scores to float32 (they run under bf16 autocast): the tensors are float32 and the hand-computed
values float64 from the same numbers, hence the tolerances.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lesiongan.gan.config import LossConfig
from lesiongan.gan.loss import GanLoss

SHAPE = (4, 3, 2, 2)  # N, C, H, W
TOL = {"rtol": 1e-5, "atol": 1e-6}  # float32 against float64; a wrong factor is far off


class LinearD(nn.Module):
    """D(x, c, stage, alpha) = <w, x> + b, the same at every stage and alpha."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.tensor(b, dtype=w.dtype))

    def forward(self, x, labels, stage, alpha) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b


class FixedG(nn.Module):
    """Ignores its latents: the fakes are a parameter, so G's gradient is easy to state."""

    def __init__(self, fake: torch.Tensor) -> None:
        super().__init__()
        self.fake = nn.Parameter(fake.clone())

    def forward(self, z, labels, stage, alpha) -> torch.Tensor:
        return self.fake * 1.0


@pytest.fixture
def setup():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(SHAPE, generator=g, dtype=torch.float64)
    fake = torch.randn(SHAPE, generator=g, dtype=torch.float64) * 0.5 + 0.2
    w = torch.randn(SHAPE[1] * SHAPE[2] * SHAPE[3], generator=g, dtype=torch.float64) * 0.3
    # float32 values, kept in float64 for the hand computations
    return *(t.float().double() for t in (real, fake, w)), 0.25


def _loss(kind: str, real, fake, w, b, **cfg) -> tuple[GanLoss, LinearD, FixedG]:
    D, G = LinearD(w.float(), b), FixedG(fake.float())
    return GanLoss(G, D, nn.Identity(), LossConfig(kind=kind, **cfg)), D, G


def _run(loss: GanLoss, phase: str, real: torch.Tensor) -> dict[str, torch.Tensor]:
    z = torch.zeros(SHAPE[0], 8)
    labels = torch.zeros(SHAPE[0], dtype=torch.long)
    return loss.accumulate_gradients(phase, real.float(), labels, z, labels, 1, torch.tensor(0.5))


def _scores(x: torch.Tensor, w: torch.Tensor, b: float) -> torch.Tensor:
    return x.flatten(1) @ w + b


@pytest.mark.parametrize("gamma", [10.0, 0.3])
def test_r1_is_half_gamma_times_the_squared_weight_norm(setup, gamma: float) -> None:
    real, fake, w, b = setup
    loss, D, _ = _loss("logistic-r1", real, fake, w, b, r1_gamma=gamma)
    stats = _run(loss, "Dboth", real)
    torch.testing.assert_close(stats["reg"].double(), gamma / 2 * w.square().sum(), **TOL)
    d_real, d_fake = _scores(real, w, b), _scores(fake, w, b)
    want = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    torch.testing.assert_close(stats["loss_D"].double(), want, **TOL)
    torch.testing.assert_close(stats["ada_scores"].double(), d_real, **TOL)  # ADA's statistic
    torch.testing.assert_close(stats["D_fake"].double(), d_fake.mean(), **TOL)
    # d/dw of the logistic loss, plus gamma * w from the penalty
    n = SHAPE[0]
    main = (torch.sigmoid(d_fake) @ fake.flatten(1) - torch.sigmoid(-d_real) @ real.flatten(1)) / n
    torch.testing.assert_close(D.w.grad.double(), main + gamma * w, **TOL)
    bias = torch.sigmoid(d_fake).mean() - torch.sigmoid(-d_real).mean()
    torch.testing.assert_close(D.b.grad.double(), bias, **TOL)  # the penalty does not depend on b


def test_r1_part_of_the_gradient_is_exactly_gamma_w(setup) -> None:
    real, fake, w, b = setup
    grads = []
    for gamma in (0.0, 4.0):
        loss, D, _ = _loss("logistic-r1", real, fake, w, b, r1_gamma=gamma)
        stats = _run(loss, "Dboth", real)
        grads.append(D.w.grad.double())
    assert stats["reg"].item() == pytest.approx(2.0 * w.square().sum().item(), rel=1e-6)
    torch.testing.assert_close(grads[1] - grads[0], 4.0 * w, **TOL)


@pytest.mark.parametrize(("lam", "target"), [(10.0, 1.0), (2.0, 0.7), (10.0, 750.0)])
def test_wgan_gp_penalty_drift_and_gradients(setup, lam: float, target: float) -> None:
    real, fake, w, b = setup
    drift = 0.001
    loss, D, _ = _loss("wgan-gp", real, fake, w, b, gp_lambda=lam, gp_target=target, drift=drift)
    stats = _run(loss, "Dboth", real)
    norm = w.norm()
    penalty = lam * (norm - target) ** 2 / target**2
    torch.testing.assert_close(stats["reg"].double(), penalty, **TOL)
    d_real, d_fake = _scores(real, w, b), _scores(fake, w, b)
    want = d_fake.mean() - d_real.mean() + drift * d_real.square().mean()
    torch.testing.assert_close(stats["loss_D"].double(), want, **TOL)
    torch.testing.assert_close(stats["D_real"].double(), d_real.mean(), **TOL)
    n = SHAPE[0]
    xr, xf = real.flatten(1), fake.flatten(1)
    main = xf.mean(0) - xr.mean(0) + drift * 2 * (d_real @ xr) / n
    gp = 2 * lam * (norm - target) / target**2 * w / norm
    torch.testing.assert_close(D.w.grad.double(), main + gp, **TOL)
    torch.testing.assert_close(D.b.grad.double(), drift * 2 * d_real.mean(), **TOL)


def test_zero_weights_turn_the_penalties_off(setup) -> None:
    real, fake, w, b = setup
    for kind, key in (("wgan-gp", "gp_lambda"), ("logistic-r1", "r1_gamma")):
        loss, _, _ = _loss(kind, real, fake, w, b, **{key: 0.0})
        assert _run(loss, "Dboth", real)["reg"].item() == 0.0


@pytest.mark.parametrize("kind", ["wgan-gp", "logistic-r1"])
def test_lazy_steps_carry_no_penalty(setup, kind: str) -> None:
    """``Dmain`` is D's loss alone (the lazy-regularization steps between ``Dboth`` steps)."""
    real, fake, w, b = setup
    loss, D, _ = _loss(kind, real, fake, w, b)
    assert _run(loss, "Dmain", real)["reg"].item() == 0.0
    d_real, d_fake = _scores(real, w, b), _scores(fake, w, b)
    if kind == "logistic-r1":
        expect = (d_real.neg().sigmoid().neg() / len(d_real))[:, None] * real.flatten(1)
        expect = expect.sum(0) + ((d_fake.sigmoid() / len(d_fake))[:, None] * fake.flatten(1)).sum(
            0
        )
        torch.testing.assert_close(D.w.grad.double(), expect, **TOL)


@pytest.mark.parametrize("kind", ["wgan-gp", "logistic-r1"])
def test_generator_loss_and_its_gradient(setup, kind: str) -> None:
    real, fake, w, b = setup
    loss, _, G = _loss(kind, real, fake, w, b)
    stats = _run(loss, "Gmain", real)
    d_fake = _scores(fake, w, b)
    n = SHAPE[0]
    if kind == "wgan-gp":
        want, dscore = -d_fake.mean(), torch.full((n,), -1.0 / n, dtype=w.dtype)
    else:
        want, dscore = F.softplus(-d_fake).mean(), -torch.sigmoid(-d_fake) / n
    torch.testing.assert_close(stats["loss_G"].double(), want, **TOL)
    # dL/dfake_i = dL/dD_i * w: the gradient reaches G through D
    torch.testing.assert_close(G.fake.grad.double().flatten(1), dscore[:, None] * w[None], **TOL)
    assert set(stats) == {"loss_G"}


def test_unknown_phase_is_refused(setup) -> None:
    real, fake, w, b = setup
    loss, _, _ = _loss("wgan-gp", real, fake, w, b)
    with pytest.raises(ValueError, match="unknown phase 'Dreg'"):
        _run(loss, "Dreg", real)
