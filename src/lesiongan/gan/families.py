"""The registry of generator families: one interface for training, loading and sampling.

A family is what ``network.arch`` names: its own ``network:`` config section (a subclass of
:class:`~lesiongan.gan.config.NetworkConfig`), its networks, the resolutions its schedule trains
at, its training loss, and what it can do besides generating: a discriminator that scores images
(``build_networks`` returns None for D when it has none: no ``d_score``, no ``--select
d-score``, no soft labels), truncation, path length regularization. The trainer, checkpoints,
inference and ``gan sample`` only talk to this interface, so a new family is one module that
subclasses :class:`GeneratorFamily` and calls :func:`register_family`, plus its line in
:func:`_load_builtins` when it ships with the package (a family registered from outside, as
the tests do, needs not even that).

Built in: ``pggan`` (:mod:`lesiongan.gan.networks`, Karras et al. 2018) and ``stylegan2``
(:mod:`lesiongan.gan.stylegan2`, Karras et al. 2020).

The networks' calling convention: ``G(z, labels, stage, alpha)`` -> images in [-1, 1] (NCHW) and
``D(images, labels, stage, alpha)`` -> raw scores [N]; a non-progressive family ignores
``stage`` and ``alpha``. A family with ``truncation`` also takes ``truncation_psi=`` in G.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import ValidationError
from pydantic_core import PydanticCustomError
from torch import nn

if TYPE_CHECKING:
    from lesiongan.gan.config import GanConfig, NetworkConfig, ScheduleConfig
    from lesiongan.gan.loss import TrainingLoss

DEFAULT_FAMILY = "pggan"
_FAMILIES: dict[str, GeneratorFamily] = {}


class GeneratorFamily:
    """One generator family. Subclass it, set the class attributes, implement
    :meth:`build_networks`; the other methods have the defaults of a GAN trained at its final
    resolution with the loss of ``loss.kind``."""

    name: ClassVar[str]
    network_config: ClassVar[type[NetworkConfig]]
    truncation: ClassVar[bool] = False  # G takes truncation_psi=
    path_length: ClassVar[bool] = False  # G has map() and synthesize() (loss.pl_weight)

    def build_networks(
        self, cfg: GanConfig, num_classes: int
    ) -> tuple[nn.Module, nn.Module | None]:
        """(G, D) freshly initialised from torch's global RNG; D is None without a discriminator.

        G is built before D, so a run's initial weights depend only on the seed set before."""
        raise NotImplementedError

    def phase_resolutions(self, net: NetworkConfig, sched: ScheduleConfig) -> list[int]:
        """The resolution of each schedule step (one per resolution; see gan/schedule.py)."""
        return [net.resolution]

    def build_loss(
        self,
        G: nn.Module,
        D: nn.Module | None,
        augment: nn.Module,
        cfg: GanConfig,
        G_reg: nn.Module,
        D_reg: nn.Module | None,
    ) -> TrainingLoss:
        """The training loss (``G``/``D`` may be compiled; ``G_reg``/``D_reg`` are eager)."""
        from lesiongan.gan.loss import GanLoss

        return GanLoss(G, D, augment, cfg.loss, D_reg=D_reg, G_reg=G_reg)

    def check_config(self, cfg: GanConfig) -> None:
        """Refuse settings this family cannot honour (ValueError, one line)."""
        if cfg.loss.pl_weight > 0 and not self.path_length:
            names = " or ".join(f.name for f in families() if f.path_length)
            raise ValueError(f"loss.pl_weight > 0 needs network.arch: {names}")


def register_family(family: GeneratorFamily) -> GeneratorFamily:
    """Add a family under ``family.name``; registering the same name twice is an error."""
    known = _FAMILIES.get(family.name)
    if known is not None and type(known) is not type(family):
        raise ValueError(f"generator family {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> GeneratorFamily:
    _load_builtins()
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"network.arch {name!r} is not a generator family (known: {', '.join(_FAMILIES)})"
        ) from None


def families() -> list[GeneratorFamily]:
    _load_builtins()
    return list(_FAMILIES.values())


def _load_builtins() -> None:
    # the built-in families register themselves when imported (here, not at the top: they
    # import gan/config.py, which validates through this registry)
    from lesiongan.gan import networks, stylegan2  # noqa: F401


def parse_network(data: Mapping[str, Any]) -> NetworkConfig:
    """A ``network:`` section -> the config of the family it names (``arch``, default pggan).

    Format migration: before families had their own sections, ``network`` was one flat record
    of every family's keys, so a saved pggan config also holds StyleGAN2's keys at their
    defaults. A key of another family is dropped when it holds that family's default (what
    older versions wrote, and what never did anything); any other value is refused, naming the
    family it belongs to.
    """
    arch = data.get("arch", DEFAULT_FAMILY)
    known = {f.name: f for f in families()}
    if not isinstance(arch, str) or arch not in known:
        raise _invalid(
            "arch", arch, f"{arch!r} is not a generator family (known: {', '.join(known)})"
        )
    family = known[arch]
    own = family.network_config.model_fields
    kept = dict(data)
    for key, value in data.items():
        if key in own:
            continue
        other = next((f for f in families() if key in f.network_config.model_fields), None)
        if other is None:
            continue  # an unknown key: the family's config names it
        if value == other.network_config.model_fields[key].default:
            del kept[key]
            continue
        raise _invalid(key, value, f"a key of network.arch: {other.name}, not {family.name}")
    return family.network_config.model_validate(kept)


def _invalid(key: str, value: Any, message: str) -> ValidationError:
    """A validation error at ``network.<key>`` (the field being validated adds ``network``)."""
    error = PydanticCustomError("generator_family", message.replace("{", "{{").replace("}", "}}"))
    return ValidationError.from_exception_data(
        "network", [{"type": error, "loc": (key,), "input": value}]
    )


def build_networks(cfg: GanConfig, num_classes: int) -> tuple[nn.Module, nn.Module | None]:
    """(G, D) of the family ``cfg.network.arch`` (see :meth:`GeneratorFamily.build_networks`)."""
    return get_family(cfg.network.arch).build_networks(cfg, num_classes)


def set_cond_blend(modules: list[nn.Module | None], value: float) -> None:
    """Set the transitional-conditioning factor of every submodule that has one."""
    for net in modules:
        if net is None:
            continue
        for m in net.modules():
            buf = getattr(m, "cond_blend", None)
            if isinstance(buf, torch.Tensor):
                buf.fill_(value)
