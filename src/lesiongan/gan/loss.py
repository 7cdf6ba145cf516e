"""GAN losses, separate from the training loop (as in StyleGAN2-ADA's ``loss.py``).

- ``wgan-gp``: the paper's WGAN-GP (Gulrajani et al. 2017) with lambda 10, target 1, and the
  drift term epsilon_drift * E[D(x)^2] that keeps D's output near zero (Karras et al. 2018, A.1).
- ``logistic-r1``: the non-saturating logistic loss with the R1 penalty on reals
  (Mescheder et al. 2018), gamma / 2 * E[|grad D(x)|^2].

Both see D's inputs through the differentiable augmentation.

Phases, named as in StyleGAN2-ADA: ``Gmain`` (G's loss), ``Greg`` (path length regularization,
families with a mapping network), ``Dmain`` (D's loss without penalty) and ``Dboth`` (D's loss
plus the gradient penalty). The loss, not the loop, decides which phases an iteration runs
(:meth:`GanLoss.steps`): the trainer only iterates over them. Lazy regularization (Karras et
al. 2020a, section 3.1): ``Dboth`` every ``loss.r1_interval`` D steps and ``Dmain`` otherwise,
with the R1 term multiplied by the interval so that its average strength is unchanged; the
penalty shares the optimizer step with that minibatch's main loss (the reference takes a
separate step). WGAN-GP's penalty is never lazy. ``Greg`` joins the G step every
``loss.pl_interval`` iterations. The D phases also return ``ada_scores``, the statistic whose
sign drives ADA (StyleGAN2-ADA's r_t).

Path length regularization (section 3.2): for images ``g(w)`` and ``y ~ N(0, I) / sqrt(H W)``,
``a = |J_w^T y|`` (the gradient of ``sum(g(w) * y)`` with respect to w, its squared norm summed
over features and averaged over the broadcast ws, then the square root), penalty
``(a - a_mean)^2`` with ``a_mean`` a running mean (decay ``pl_decay``, kept in G's ``pl_mean``
buffer), on ``batch // pl_batch_shrink`` samples every ``pl_interval`` G steps, weighted by
``pl_weight * pl_interval``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from lesiongan.gan.config import LossConfig

PHASES = ("Gmain", "Greg", "Dmain", "Dboth")
Step = tuple[str, tuple[str, ...]]  # (network stepped: "G" or "D", loss phases accumulated)


class TrainingLoss(Protocol):
    """What the training loop needs from a loss (a family may bring its own)."""

    def steps(self, batch_idx: int) -> Sequence[Step]:
        """The optimizer steps of iteration ``batch_idx``, in order, each with its phases."""
        ...

    def accumulate_gradients(
        self,
        phase: str,
        real_img: torch.Tensor,
        real_c: torch.Tensor | None,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor | None,
        stage: int,
        alpha: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Backpropagate one phase's loss; detached statistics (scalars, plus optionally
        ``ada_scores``: per-image scores of reals whose sign feeds the ADA controller)."""
        ...


class WganGp:
    """WGAN-GP scores (Gulrajani et al. 2017) with PGGAN's drift term; never lazy."""

    @staticmethod
    def g_loss(score: torch.Tensor) -> torch.Tensor:
        return -score.mean()

    @staticmethod
    def penalty_due(cfg: LossConfig, batch_idx: int) -> bool:
        return True

    @staticmethod
    def d_loss(loss: GanLoss, real_aug, fake_aug, fake_score, real_c, stage, alpha, penalize):
        real_score = loss.D(real_aug, real_c, stage, alpha).float()
        cfg = loss.cfg
        value = fake_score.mean() - real_score.mean() + cfg.drift * real_score.square().mean()
        reg = (
            loss._gradient_penalty(real_aug, fake_aug, real_c, stage, alpha)
            if penalize
            else real_score.new_zeros(())
        )
        return value, reg, real_score

    @staticmethod
    def ada_scores(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
        # WGAN scores have no fixed zero (the drift term pulls D(real) towards 0), so the ADA
        # heuristic measures reals against the mean fake score instead of against 0.
        return real_score.detach() - fake_score.detach().mean()


class LogisticR1:
    """The non-saturating logistic loss with lazy R1 on reals (Mescheder et al. 2018)."""

    @staticmethod
    def g_loss(score: torch.Tensor) -> torch.Tensor:
        return F.softplus(-score).mean()

    @staticmethod
    def penalty_due(cfg: LossConfig, batch_idx: int) -> bool:
        return batch_idx % cfg.r1_interval == 0

    @staticmethod
    def d_loss(loss: GanLoss, real_aug, fake_aug, fake_score, real_c, stage, alpha, penalize):
        # One forward pass on the reals serves both the loss and the R1 penalty.
        real_score, reg = loss._real_scores_and_r1(real_aug, real_c, stage, alpha, penalize)
        return F.softplus(fake_score).mean() + F.softplus(-real_score).mean(), reg, real_score

    @staticmethod
    def ada_scores(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
        return real_score.detach()


LOSS_KINDS = {"wgan-gp": WganGp, "logistic-r1": LogisticR1}  # loss.kind -> its terms


class GanLoss:
    """The GAN loss of ``loss.kind`` for a generator and its discriminator."""

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        augment: nn.Module,
        cfg: LossConfig,
        D_reg: nn.Module | None = None,
        G_reg: nn.Module | None = None,
    ) -> None:
        self.G, self.D, self.augment, self.cfg = G, D, augment, cfg
        self.kind = LOSS_KINDS[cfg.kind]
        # The penalties need double backward, which torch.compile does not support: eager nets.
        self.D_reg = D_reg if D_reg is not None else D
        self.G_reg = G_reg if G_reg is not None else G

    def steps(self, batch_idx: int) -> list[Step]:
        """One D step, then one G step (n_critic = 1); lazy regularization by ``batch_idx``."""
        d = "Dboth" if self.kind.penalty_due(self.cfg, batch_idx) else "Dmain"
        g = ("Gmain",)
        if self.cfg.pl_weight > 0 and batch_idx % self.cfg.pl_interval == 0:
            g = ("Gmain", "Greg")
        return [("D", (d,)), ("G", g)]

    def accumulate_gradients(
        self,
        phase: str,
        real_img: torch.Tensor,
        real_c: torch.Tensor | None,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor | None,
        stage: int,
        alpha: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Backpropagate one phase's loss; returns detached statistics."""
        if phase == "Gmain":
            fake = self.G(gen_z, gen_c, stage, alpha)
            score = self.D(self.augment(fake), gen_c, stage, alpha)
            loss = self.kind.g_loss(score.float())
            loss.backward()
            return {"loss_G": loss.detach()}
        if phase == "Greg":
            return self._path_length(gen_z, gen_c)
        if phase not in ("Dmain", "Dboth"):
            raise ValueError(f"unknown phase {phase!r} (known: {', '.join(PHASES)})")
        with torch.no_grad():
            fake = self.G(gen_z, gen_c, stage, alpha)
        real_aug = self.augment(real_img)
        fake_aug = self.augment(fake)
        fake_score = self.D(fake_aug, gen_c, stage, alpha).float()
        loss, reg, real_score = self.kind.d_loss(
            self, real_aug, fake_aug, fake_score, real_c, stage, alpha, phase == "Dboth"
        )
        (loss + reg).backward()
        return {
            "loss_D": loss.detach(),
            "reg": reg.detach(),
            "D_real": real_score.detach().mean(),
            "D_fake": fake_score.detach().mean(),
            "ada_scores": self.kind.ada_scores(real_score, fake_score),
        }

    def _gradient_penalty(self, real, fake, labels, stage, alpha) -> torch.Tensor:
        if self.cfg.gp_lambda == 0:
            return real.new_zeros((), dtype=torch.float32)
        u = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        mixed = torch.lerp(real.detach().float(), fake.detach().float(), u.float()).requires_grad_(
            True
        )
        score = self.D_reg(mixed, labels, stage, alpha)
        (grad,) = torch.autograd.grad(score.float().sum(), mixed, create_graph=True)
        norm = grad.float().flatten(1).norm(dim=1)
        t = self.cfg.gp_target
        return self.cfg.gp_lambda * ((norm - t) ** 2 / t**2).mean()

    def _real_scores_and_r1(
        self, real, labels, stage, alpha, penalize: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.r1_gamma == 0 or not penalize:
            return self.D(real, labels, stage, alpha).float(), real.new_zeros(
                (), dtype=torch.float32
            )
        x = real.detach().requires_grad_(True)
        score = self.D_reg(x, labels, stage, alpha).float()
        (grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)
        gamma = self.cfg.r1_gamma * self.cfg.r1_interval  # lazy: stronger, less often
        r1 = gamma / 2 * grad.float().square().flatten(1).sum(dim=1).mean()
        return score, r1

    def _path_length(self, gen_z: torch.Tensor, gen_c: torch.Tensor | None) -> dict:
        G, cfg = self.G_reg, self.cfg
        if not hasattr(G, "synthesize"):
            raise ValueError("path length regularization needs a StyleGAN2 generator")
        n = max(gen_z.shape[0] // cfg.pl_batch_shrink, 1)
        ws = G.map(gen_z[:n], None if gen_c is None else gen_c[:n])
        img = G.synthesize(ws)
        y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img.float() * y.float()).sum(), ws, create_graph=True)
        lengths = grad.float().square().sum(dim=2).mean(dim=1).sqrt()
        with torch.no_grad():
            G.pl_mean.copy_(G.pl_mean.lerp(lengths.mean(), cfg.pl_decay))
        penalty = (lengths - G.pl_mean).square().mean() * (cfg.pl_weight * cfg.pl_interval)
        penalty.backward()
        return {"reg_G": penalty.detach()}
