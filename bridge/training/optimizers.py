"""Optimizers by Cortex's names and defaults (cortex-spec §3.3), and a few of PyTorch's.

Spellings, all equivalent where they mean the same thing:

- EDN: ``(sgd :learning-rate 0.01)``, ``(cortex.optimize.adam/adam :alpha 0.001)``,
  ``{:type :adam :alpha 0.001}``, or the text of any of these;
- Python: ``"adam"``, ``{"type": "adam", "alpha": 0.001}`` (str or keyword keys);
- ready-made: a ``torch.optim.Optimizer``, or a callable ``params -> Optimizer``.

==============  ==================================================  ==================
name            options (defaults)                                  PyTorch
==============  ==================================================  ==================
``sgd``         ``:learning-rate 0.001 :momentum 0.9``               SGD, Nesterov
``adam``        ``:alpha 0.001 :beta1 0.9 :beta2 0.999``             Adam
                ``:epsilon 1e-8``
``adadelta``    ``:decay 0.05 :epsilon 1e-6 :learning-rate 1``       Adadelta
``adamw``       ``:learning-rate 0.001 :beta1 0.9 :beta2 0.999``     AdamW
                ``:epsilon 1e-8 :weight-decay 0.01``
``rmsprop``     ``:learning-rate 0.01 :rho 0.99 :epsilon 1e-8``      RMSprop
                ``:momentum 0``
``adagrad``     ``:learning-rate 0.01 :epsilon 1e-10``               Adagrad
==============  ==================================================  ==================

Each equivalence is exact (tests check every step against the spec's formula):
Cortex's SGD keeps u = μu + ηg and moves θ by μu_old − (1 + μ)u, which is PyTorch's
Nesterov momentum with lr η; Adam is PyTorch's Adam with lr α; Adadelta weights the new
squared gradient by ``:decay``, PyTorch by 1 − rho. ``:lr`` and ``:learning-rate`` are
accepted for Adam's ``:alpha``.

A ``:schedule`` option adds a learning-rate schedule, stepped once per epoch:
``{:type :step :step-size 10 :gamma 0.1}``, ``{:type :exponential :gamma 0.95}``,
``{:type :cosine}`` (over the run's epochs; ``:epochs`` and ``:min-learning-rate``
change that), or just ``:cosine``.

The update runs as one fused kernel where PyTorch has one for the optimizer and device
(``fused=True``), else over all parameters at once (``foreach=True``); never one Python
call per parameter.

Differs from Cortex: Adam's bias correction continues across epochs (Cortex restarted it
on every ``train`` call, cortex-spec §3.3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from bridge.edn.types import EdnList, Keyword, Symbol, key_name

__all__ = ["OPTIMIZERS", "OptimizerSpec", "register_optimizer", "parse_optimizer",
           "make_optimizer", "make_schedule", "optimizer_edn", "SCHEDULES"]


@dataclass(frozen=True)
class OptimizerSpec:
    """A Cortex optimizer name, its options with their defaults, and how to build it.

    Attributes:
        name: the name in EDN (``"sgd"``).
        defaults: every option and its default, in Cortex's spelling.
        make: ``(params, options, kernel) -> torch.optim.Optimizer``; ``kernel`` is
            ``{"fused": True}`` or ``{"foreach": True}``.
        fused_devices: device types where PyTorch has a fused kernel for it.
        aliases: other spellings of options (``{"lr": "alpha"}``).
    """

    name: str
    defaults: Mapping[str, Any]
    make: Callable[[Any, Mapping[str, Any], dict], torch.optim.Optimizer]
    fused_devices: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)


OPTIMIZERS: dict[str, OptimizerSpec] = {}
_COMMON_ALIASES = {"lr": "learning-rate", "learning_rate": "learning-rate",
                   "weight_decay": "weight-decay"}


def register_optimizer(name: str, defaults: Mapping[str, Any], *,
                       fused_devices: tuple[str, ...] = (),
                       aliases: Mapping[str, str] | None = None):
    """Register ``make(params, options, kernel)`` under ``name`` (a decorator)."""

    def decorate(make):
        if name in OPTIMIZERS:
            raise ValueError(f"an optimizer named {name!r} is already registered")
        OPTIMIZERS[name] = OptimizerSpec(name, dict(defaults), make, frozenset(fused_devices),
                                         {**_COMMON_ALIASES, **(aliases or {})})
        return make

    return decorate


@register_optimizer("sgd", {"learning-rate": 0.001, "momentum": 0.9},
                    fused_devices=("cpu", "cuda"))
def _sgd(params, o, kernel):
    momentum = float(o["momentum"])
    return torch.optim.SGD(params, lr=o["learning-rate"], momentum=momentum,
                           nesterov=momentum > 0, **kernel)


@register_optimizer("adam", {"alpha": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
                    fused_devices=("cpu", "cuda"),
                    aliases={"lr": "alpha", "learning-rate": "alpha", "learning_rate": "alpha"})
def _adam(params, o, kernel):
    return torch.optim.Adam(params, lr=o["alpha"], betas=(o["beta1"], o["beta2"]),
                            eps=o["epsilon"], **kernel)


@register_optimizer("adadelta", {"decay": 0.05, "epsilon": 1e-6, "learning-rate": 1.0})
def _adadelta(params, o, kernel):
    return torch.optim.Adadelta(params, lr=o["learning-rate"], rho=1.0 - o["decay"],
                                eps=o["epsilon"], **kernel)


@register_optimizer("adamw", {"learning-rate": 0.001, "beta1": 0.9, "beta2": 0.999,
                              "epsilon": 1e-8, "weight-decay": 0.01},
                    fused_devices=("cpu", "cuda"))
def _adamw(params, o, kernel):
    return torch.optim.AdamW(params, lr=o["learning-rate"], betas=(o["beta1"], o["beta2"]),
                             eps=o["epsilon"], weight_decay=o["weight-decay"], **kernel)


@register_optimizer("rmsprop", {"learning-rate": 0.01, "rho": 0.99, "epsilon": 1e-8,
                                "momentum": 0.0})
def _rmsprop(params, o, kernel):
    return torch.optim.RMSprop(params, lr=o["learning-rate"], alpha=o["rho"],
                               eps=o["epsilon"], momentum=o["momentum"], **kernel)


@register_optimizer("adagrad", {"learning-rate": 0.01, "epsilon": 1e-10},
                    fused_devices=("cpu",))
def _adagrad(params, o, kernel):
    return torch.optim.Adagrad(params, lr=o["learning-rate"], eps=o["epsilon"], **kernel)


def _name(value: Any) -> str:
    if isinstance(value, Keyword | Symbol):
        return value.name
    return str(value).lstrip(":").rpartition("/")[2]


def _plain_key(value: Any) -> str:
    return key_name(value)


def parse_optimizer(value: Any) -> dict[str, Any]:
    """Any accepted spelling → ``{"type": name, **options}`` with Cortex's defaults.

    Raises:
        ValueError: an unknown name or option, naming the known ones.
    """
    if value is None:
        value = "adam"  # Cortex's default optimizer (execute/train, train-n)
    if isinstance(value, str) and value.strip()[:1] in ("(", "{"):
        from bridge.edn import loads

        value = loads(value)
    if isinstance(value, EdnList):
        if not value:
            raise ValueError("an empty list is not an optimizer")
        items = list(value[1:])
        if len(items) == 1 and isinstance(items[0], Mapping):  # (sgd {:learning-rate …})
            items = [x for pair in items[0].items() for x in pair]
        if len(items) % 2:
            raise ValueError(f"({value[0]} …) takes keyword/value pairs. Received: "
                             f"{len(items)} arguments")
        options = {"type": _name(value[0])}
        options.update({_plain_key(k): v for k, v in zip(items[::2], items[1::2],
                                                          strict=True)})
    elif isinstance(value, Mapping):
        options = {_plain_key(k): v for k, v in value.items()}
        options["type"] = _name(options.get("type", "adam"))
    elif isinstance(value, str | Keyword | Symbol):
        options = {"type": _name(value)}
    else:
        raise ValueError(f"cannot read an optimizer from {value!r}; give a name such as "
                         "'adam', a map such as {:type :sgd :learning-rate 0.01}, or a "
                         "torch.optim.Optimizer")
    kind = options["type"]
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer :{kind}; known optimizers are "
                         + " ".join(f":{k}" for k in OPTIMIZERS))
    spec = OPTIMIZERS[kind]
    options = {spec.aliases.get(k, k): v for k, v in options.items()}
    unknown = [k for k in options if k not in spec.defaults and k not in ("type", "schedule")]
    if unknown:
        raise ValueError(f":{kind} has no option " + " ".join(f":{u}" for u in unknown)
                         + "; its options are " + " ".join(f":{k}" for k in spec.defaults))
    for key, given in options.items():
        if key in spec.defaults and (isinstance(given, bool)
                                     or not isinstance(given, int | float)):
            raise ValueError(f":{kind} option :{key} must be a number. Received: "
                             f":{key} {given!r}")
    return {"type": kind, **spec.defaults,
            **{k: (float(v) if k in spec.defaults else v) for k, v in options.items()
               if k != "type"}}


def _kernel(spec: OptimizerSpec, params: list) -> dict:
    devices = {p.device.type for p in params}
    if (len(devices) == 1 and devices <= spec.fused_devices
            and all(p.is_floating_point() for p in params)):
        return {"fused": True}
    return {"foreach": True}


def make_optimizer(value: Any, params) -> tuple[torch.optim.Optimizer, dict[str, Any] | None]:
    """The torch optimizer for ``value`` over ``params``, and its parsed options
    (``None`` for an optimizer given ready-made).

    ``params`` is a list of tensors, or of parameter groups as
    :meth:`bridge.Network.param_groups` gives them: a group's ``"lr_scale"`` multiplies
    the optimizer's learning rate for it (Cortex's ``:learning-attenuation``), unless
    the group sets its own ``"lr"``.
    """
    if isinstance(value, torch.optim.Optimizer):
        return value, None
    params = list(params)
    grouped = bool(params) and isinstance(params[0], Mapping)
    if grouped:
        params = [dict(group) for group in params]
        # torch fills each group dict with the defaults, so read the scales first.
        scales = [None if "lr" in group else group.get("lr_scale") for group in params]
    if callable(value) and not isinstance(value, str | Keyword | Symbol | Mapping | EdnList):
        optimizer, options = value(params), None
    else:
        options = parse_optimizer(value)
        spec = OPTIMIZERS[options["type"]]
        flat = [p for g in params for p in g["params"]] if grouped else params
        optimizer = spec.make(params, options, _kernel(spec, flat))
    if grouped:
        _scale_learning_rates(optimizer, scales)
    return optimizer, options


def _scale_learning_rates(optimizer: torch.optim.Optimizer, scales: list) -> None:
    if len(optimizer.param_groups) != len(scales):
        return  # a callable built its own groups
    for group, scale in zip(optimizer.param_groups, scales, strict=True):
        if scale is not None and "lr" in group:
            group["lr"] = group["lr"] * float(scale)  # a new value, never shared


def _step(optimizer, o, epochs):
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=int(o.get("step-size", 10)),
                                           gamma=float(o.get("gamma", 0.1)))


def _exponential(optimizer, o, epochs):
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(o.get("gamma", 0.95)))


def _cosine(optimizer, o, epochs):
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, int(o.get("epochs", epochs))),
        eta_min=float(o.get("min-learning-rate", 0.0)))


SCHEDULES = {"step": _step, "exponential": _exponential, "cosine": _cosine}


def make_schedule(options: Mapping[str, Any] | None, optimizer, epochs: int):
    """The per-epoch learning-rate schedule an optimizer's ``:schedule`` asks for, or
    ``None``.

    Raises:
        ValueError: an unknown schedule, listing the known ones.
    """
    if not options or options.get("schedule") is None:
        return None
    schedule = options["schedule"]
    if isinstance(schedule, Mapping):
        schedule = {_plain_key(k): v for k, v in schedule.items()}
    else:
        schedule = {"type": schedule}
    kind = _name(schedule.get("type", "step"))
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule :{kind}; known schedules are "
                         + " ".join(f":{k}" for k in SCHEDULES))
    return SCHEDULES[kind](optimizer, schedule, epochs)


def optimizer_edn(options: Mapping[str, Any] | None) -> Any:
    """The parsed options as EDN data (for saved headers)."""
    if options is None:
        return None

    def edn(value):
        if isinstance(value, Mapping):
            return {Keyword(_plain_key(k)): edn(v) for k, v in value.items()}
        return Keyword(_name(value)) if isinstance(value, str) else value

    return {Keyword(k): (Keyword(v) if k == "type" else edn(v)) for k, v in options.items()}
