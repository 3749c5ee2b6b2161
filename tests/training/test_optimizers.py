"""Each Cortex optimizer's step equals the formula in cortex-spec §3.3."""

from __future__ import annotations

import math

import pytest
import torch

from bridge.edn import loads
from bridge.training.optimizers import make_optimizer, parse_optimizer

GRADIENTS = [torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64),
             torch.tensor([-0.25, 0.75, 1.0], dtype=torch.float64),
             torch.tensor([1.5, 0.5, -2.0], dtype=torch.float64)]


def run(spec):
    param = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    optimizer, _ = make_optimizer(spec, [param])
    trajectory = []
    for gradient in GRADIENTS:
        param.grad = gradient.clone()
        optimizer.step()
        trajectory.append(param.detach().clone())
    return trajectory


def test_sgd_is_cortex_nesterov():
    eta, mu = 0.1, 0.9
    theta = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    u = torch.zeros(3, dtype=torch.float64)
    expected = []
    for g in GRADIENTS:  # sgd.clj: u = μu + ηg; θ += μ·u_old − (1 + μ)·u
        u_old = u
        u = mu * u + eta * g
        theta = theta + mu * u_old - (1 + mu) * u
        expected.append(theta.clone())
    for got, want in zip(run("(sgd :learning-rate 0.1)"), expected, strict=True):
        assert torch.allclose(got, want, rtol=0, atol=1e-12)


def test_adam_formula():
    alpha, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    theta = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    m = v = torch.zeros(3, dtype=torch.float64)
    expected = []
    for t, g in enumerate(GRADIENTS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - alpha * m / ((1 - b1 ** t) * (torch.sqrt(v / (1 - b2 ** t)) + eps))
        expected.append(theta.clone())
    for got, want in zip(run({"type": "adam", "alpha": 0.01}), expected, strict=True):
        assert torch.allclose(got, want, rtol=0, atol=1e-12)


def test_adadelta_formula():
    decay, eps = 0.05, 1e-6
    theta = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    grad_acc = dx_acc = torch.zeros(3, dtype=torch.float64)
    expected = []
    for g in GRADIENTS:
        grad_acc = decay * g * g + (1 - decay) * grad_acc
        dx = -torch.sqrt(dx_acc + eps) / torch.sqrt(grad_acc + eps) * g
        dx_acc = decay * dx * dx + (1 - decay) * dx_acc
        theta = theta + dx
        expected.append(theta.clone())
    for got, want in zip(run("adadelta"), expected, strict=True):
        assert torch.allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("(sgd :learning-rate 0.01)", {"type": "sgd", "learning-rate": 0.01, "momentum": 0.9}),
        ("{:type :adam :alpha 0.002}", {"type": "adam", "alpha": 0.002, "beta1": 0.9,
                                        "beta2": 0.999, "epsilon": 1e-8}),
        ("adam", {"type": "adam", "alpha": 0.001, "beta1": 0.9, "beta2": 0.999,
                  "epsilon": 1e-8}),
        ({"type": "adadelta"}, {"type": "adadelta", "decay": 0.05, "epsilon": 1e-6}),
        (loads("(cortex.optimize.sgd/sgd :momentum 0.5)"),
         {"type": "sgd", "learning-rate": 0.001, "momentum": 0.5}),
    ],
)
def test_spellings(spelling, expected):
    assert parse_optimizer(spelling) == expected


def test_unknown_optimizer_and_option():
    with pytest.raises(ValueError, match=r"unknown optimizer :sgdd; known optimizers are :sgd"):
        parse_optimizer("sgdd")
    with pytest.raises(ValueError, match=r":sgd has no option :alpha; its options are "
                                         r":learning-rate :momentum"):
        parse_optimizer("(sgd :alpha 0.1)")


@pytest.mark.parametrize("name", ["adamw", "rmsprop", "adagrad"])
def test_pytorch_optimizers_step(name):
    trajectory = run(name)
    assert not torch.equal(trajectory[0], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert all(math.isfinite(v) for v in trajectory[-1].tolist())
