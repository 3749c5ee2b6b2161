"""Cortex's parameter initialisation schemes (cortex-spec §1.13), seeded.

Each weight matrix is seen as ``[n_out, fan_in]`` rows (a convolution's ``[K, C·k·k]``).

==================  =====================================================
``:xavier``         N(0, 1/fan_in) — Cortex's name; this is LeCun-normal
``:relu``           N(0, 2/fan_in) — He-normal
``:bengio-glorot``  N(0, 2/(fan_in + n_out))
``:orthogonal``     √2 · the first n_out rows of Q from QR of a fan_in² normal matrix
``:constant``       every value ``:value``
==================  =====================================================

Like Cortex, each normally distributed row is then shifted and scaled so its sample
mean is exactly 0 and its population variance exactly the target. Unlike Cortex
(``SecureRandom``, never reproducible), every draw comes from the ``torch.Generator``
passed in, so one seed gives bit-identical weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from bridge.edn.types import key_name

__all__ = ["initialize", "INITIALIZERS", "scheme_name"]


def _rows(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    n_out = shape[0]
    return n_out, math.prod(shape[1:])


def _exact_moment_normal(shape, variance: float, generator: torch.Generator) -> torch.Tensor:
    n_out, fan_in = _rows(shape)
    draws = torch.randn((n_out, fan_in), generator=generator, dtype=torch.float64)
    if fan_in > 1:
        draws = draws - draws.mean(dim=1, keepdim=True)
        std = draws.std(dim=1, unbiased=False, keepdim=True)
        draws = draws / torch.where(std > 0, std, torch.ones_like(std))
    return (draws * math.sqrt(variance)).reshape(shape)


def _xavier(shape, options, generator):
    _, fan_in = _rows(shape)
    return _exact_moment_normal(shape, 1.0 / fan_in, generator)


def _relu(shape, options, generator):
    _, fan_in = _rows(shape)
    return _exact_moment_normal(shape, 2.0 / fan_in, generator)


def _bengio_glorot(shape, options, generator):
    n_out, fan_in = _rows(shape)
    return _exact_moment_normal(shape, 2.0 / (fan_in + n_out), generator)


def _orthogonal(shape, options, generator):
    n_out, fan_in = _rows(shape)
    if fan_in < n_out:
        raise ValueError(
            f":orthogonal initialisation needs fan-in >= rows; got a [{n_out} {fan_in}] matrix"
        )
    square = torch.randn((fan_in, fan_in), generator=generator, dtype=torch.float64)
    q, _ = torch.linalg.qr(square)
    return (math.sqrt(2.0) * q[:n_out]).reshape(shape)


def _constant(shape, options, generator):
    value = options.get("value", 0.0)
    return torch.full(shape, float(value), dtype=torch.float64)


def _by_rank(shape, options, generator):
    """User layers' default: Cortex's ``:xavier`` for matrices, zeros for vectors."""
    if len(shape) >= 2:
        return _xavier(shape, options, generator)
    return _constant(shape, {"value": 0.0}, generator)


INITIALIZERS: dict[str, Callable[..., torch.Tensor]] = {
    "xavier": _xavier,
    "relu": _relu,
    "bengio-glorot": _bengio_glorot,
    "orthogonal": _orthogonal,
    "constant": _constant,
    "by-rank": _by_rank,
}


def scheme_name(options: Mapping[str, Any]) -> str:
    """The ``:type`` of an initialisation map, as a plain string."""
    kind = options.get("type", "xavier")
    return key_name(kind)


def initialize(
    shape: tuple[int, ...], options: Mapping[str, Any], *, generator: torch.Generator
) -> torch.Tensor:
    """Values for a parameter of ``shape`` under the scheme ``options`` (float64).

    Args:
        shape: Cortex's layout of the parameter.
        options: a Cortex initialisation map with str keys (``{"type": "relu"}``).
        generator: the only source of randomness.

    Raises:
        ValueError: an unknown scheme, naming the known ones.
    """
    name = scheme_name(options)
    scheme = INITIALIZERS.get(name)
    if scheme is None:
        known = " ".join(f":{k}" for k in INITIALIZERS)
        raise ValueError(f"unknown initialization :{name}; known schemes are {known}")
    return scheme(tuple(shape), options, generator)
