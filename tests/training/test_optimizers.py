"""Each Cortex optimizer's step equals the formula in cortex-spec §3.3, step by step;
spellings, defaults, errors and schedules."""

from __future__ import annotations

import math

import pytest
import torch

from bridge.edn import Keyword, loads
from bridge.training.optimizers import (
    OPTIMIZERS,
    make_optimizer,
    make_schedule,
    optimizer_edn,
    parse_optimizer,
)

GRADIENTS = [[0.5, -1.0, 2.0], [-0.25, 0.75, 1.0], [1.5, 0.5, -2.0], [0.0, -0.5, 0.25]]
START = [1.0, 2.0, 3.0]


def run(spec, dtype=torch.float64):
    param = torch.nn.Parameter(torch.tensor(START, dtype=dtype))
    optimizer, _ = make_optimizer(spec, [param])
    trajectory = []
    for gradient in GRADIENTS:
        param.grad = torch.tensor(gradient, dtype=dtype)
        optimizer.step()
        trajectory.append(param.detach().clone().double())
    return trajectory


def same(got, expected, atol):
    assert len(got) == len(expected)
    for step, (g, e) in enumerate(zip(got, expected, strict=True), start=1):
        assert torch.allclose(g, e, rtol=0, atol=atol), (step, g, e)


def sgd_formula(eta, mu):
    """sgd.clj: u = μu + ηg; θ += μ·u_old − (1 + μ)·u."""
    theta, out = torch.tensor(START, dtype=torch.float64), []
    u = torch.zeros(3, dtype=torch.float64)
    for g in map(lambda v: torch.tensor(v, dtype=torch.float64), GRADIENTS):
        u_old, u = u, mu * u + eta * g
        theta = theta + mu * u_old - (1 + mu) * u
        out.append(theta.clone())
    return out


def adam_formula(alpha, b1=0.9, b2=0.999, eps=1e-8):
    """adam.clj: m = β1m + (1−β1)g; v = β2v + (1−β2)g²;
    θ −= α·m / ((1 − β1ᵗ)(√(v/(1 − β2ᵗ)) + ε))."""
    theta = torch.tensor(START, dtype=torch.float64)
    m = v = torch.zeros(3, dtype=torch.float64)
    out = []
    for t, gradient in enumerate(GRADIENTS, start=1):
        g = torch.tensor(gradient, dtype=torch.float64)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - alpha * m / ((1 - b1 ** t) * (torch.sqrt(v / (1 - b2 ** t)) + eps))
        out.append(theta.clone())
    return out


def adadelta_formula(decay=0.05, eps=1e-6):
    """AdadeltaOptimizer.java: E[g²] = d·g² + (1−d)E[g²]; Δ = −√(E[Δ²]+ε)/√(E[g²]+ε)·g;
    E[Δ²] = d·Δ² + (1−d)E[Δ²]."""
    theta = torch.tensor(START, dtype=torch.float64)
    grad_acc = dx_acc = torch.zeros(3, dtype=torch.float64)
    out = []
    for g in map(lambda x: torch.tensor(x, dtype=torch.float64), GRADIENTS):
        grad_acc = decay * g * g + (1 - decay) * grad_acc
        dx = -torch.sqrt(dx_acc + eps) / torch.sqrt(grad_acc + eps) * g
        dx_acc = decay * dx * dx + (1 - decay) * dx_acc
        theta = theta + dx
        out.append(theta.clone())
    return out


@pytest.mark.parametrize("spelling", ["(sgd :learning-rate 0.1)",
                                      {"type": "sgd", "learning-rate": 0.1}])
def test_sgd_is_cortex_nesterov(spelling):
    same(run(spelling), sgd_formula(0.1, 0.9), atol=1e-12)


def test_sgd_defaults_and_momentum():
    same(run("sgd"), sgd_formula(0.001, 0.9), atol=1e-12)
    same(run("(sgd :learning-rate 0.05 :momentum 0.5)"), sgd_formula(0.05, 0.5), atol=1e-12)
    same(run("(sgd :learning-rate 0.05 :momentum 0)"), sgd_formula(0.05, 0.0), atol=1e-12)


def test_adam_formula():
    same(run({"type": "adam", "alpha": 0.01}), adam_formula(0.01), atol=1e-12)
    same(run("adam"), adam_formula(0.001), atol=1e-12)


def test_adadelta_formula():
    same(run("adadelta"), adadelta_formula(), atol=1e-12)
    same(run("(adadelta :decay 0.1 :epsilon 1e-4)"), adadelta_formula(0.1, 1e-4), atol=1e-12)


@pytest.mark.parametrize(("spec", "formula"), [
    ("(sgd :learning-rate 0.1)", lambda: sgd_formula(0.1, 0.9)),
    ("(adam :alpha 0.01)", lambda: adam_formula(0.01)),
    ("adadelta", adadelta_formula),
])
def test_float32_parameters_follow_the_formula_too(spec, formula):
    same(run(spec, torch.float32), formula(), atol=2e-6)


def test_fused_kernels_where_pytorch_has_them():
    param = torch.nn.Parameter(torch.zeros(3))
    sgd, _ = make_optimizer("sgd", [param])
    adadelta, _ = make_optimizer("adadelta", [param])
    assert sgd.defaults["fused"] is True
    assert adadelta.defaults["foreach"] is True


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("(sgd :learning-rate 0.01)", {"type": "sgd", "learning-rate": 0.01, "momentum": 0.9}),
        ("(sgd {:learning-rate 0.01})", {"type": "sgd", "learning-rate": 0.01,
                                         "momentum": 0.9}),
        ("{:type :adam :alpha 0.002}", {"type": "adam", "alpha": 0.002, "beta1": 0.9,
                                        "beta2": 0.999, "epsilon": 1e-8}),
        ({Keyword("type"): Keyword("adam"), Keyword("beta1"): 0.8},
         {"type": "adam", "alpha": 0.001, "beta1": 0.8, "beta2": 0.999, "epsilon": 1e-8}),
        ("adam", {"type": "adam", "alpha": 0.001, "beta1": 0.9, "beta2": 0.999,
                  "epsilon": 1e-8}),
        (":adam", {"type": "adam", "alpha": 0.001, "beta1": 0.9, "beta2": 0.999,
                   "epsilon": 1e-8}),
        (None, {"type": "adam", "alpha": 0.001, "beta1": 0.9, "beta2": 0.999,
                "epsilon": 1e-8}),
        ("(adam :learning-rate 0.01)", {"type": "adam", "alpha": 0.01, "beta1": 0.9,
                                        "beta2": 0.999, "epsilon": 1e-8}),
        ({"type": "adadelta"}, {"type": "adadelta", "decay": 0.05, "epsilon": 1e-6,
                                "learning-rate": 1.0}),
        (loads("(cortex.optimize.sgd/sgd :momentum 0.5)"),
         {"type": "sgd", "learning-rate": 0.001, "momentum": 0.5}),
        ({"type": "sgd", "lr": 0.3}, {"type": "sgd", "learning-rate": 0.3, "momentum": 0.9}),
    ],
)
def test_spellings(spelling, expected):
    assert parse_optimizer(spelling) == expected


@pytest.mark.parametrize(("spelling", "message"), [
    ("sgdd", "unknown optimizer :sgdd; known optimizers are :sgd :adam :adadelta :adamw "
             ":rmsprop :adagrad"),
    ("(sgd :alpha 0.1)", ":sgd has no option :alpha; its options are :learning-rate :momentum"),
    ("(sgd :learning-rate)", "(sgd …) takes keyword/value pairs. Received: 1 arguments"),
    ('(adam :alpha "fast")', ":adam option :alpha must be a number. Received: :alpha 'fast'"),
    (3, "cannot read an optimizer from 3; give a name such as 'adam', a map such as "
        "{:type :sgd :learning-rate 0.01}, or a torch.optim.Optimizer"),
])
def test_unknown_optimizer_and_option(spelling, message):
    with pytest.raises(ValueError) as caught:
        parse_optimizer(spelling)
    assert str(caught.value) == message


@pytest.mark.parametrize("name", ["adamw", "rmsprop", "adagrad"])
def test_pytorch_optimizers_step(name):
    trajectory = run(name)
    assert not torch.equal(trajectory[0], torch.tensor(START, dtype=torch.float64))
    assert all(math.isfinite(v) for v in trajectory[-1].tolist())
    assert set(OPTIMIZERS) >= {"sgd", "adam", "adadelta", name}


def test_ready_made_optimizers_pass_through():
    param = torch.nn.Parameter(torch.zeros(2))
    ready = torch.optim.SGD([param], lr=0.1)
    assert make_optimizer(ready, [param]) == (ready, None)
    built, options = make_optimizer(lambda params: torch.optim.Adam(params, lr=0.5), [param])
    assert isinstance(built, torch.optim.Adam) and options is None


def learning_rates(spec, epochs):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer, options = make_optimizer(spec, [param])
    schedule = make_schedule(options, optimizer, epochs)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        param.grad = torch.zeros(1)
        optimizer.step()
        schedule.step()
    return rates


def test_schedules():
    assert learning_rates("(sgd :learning-rate 1.0 :schedule {:type :step :step-size 2 "
                          ":gamma 0.5})", 5) == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert learning_rates("(sgd :learning-rate 1.0 :schedule {:type :exponential :gamma 0.5})",
                          3) == [1.0, 0.5, 0.25]
    cosine = learning_rates("(adam :alpha 1.0 :schedule :cosine)", 4)
    assert cosine == pytest.approx([1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5,
                                    (1 + math.cos(3 * math.pi / 4)) / 2])
    assert make_schedule(parse_optimizer("adam"), None, 3) is None
    with pytest.raises(ValueError, match=r"^unknown schedule :linear; known schedules are "
                                         r":step :exponential :cosine$"):
        learning_rates("(sgd :schedule :linear)", 1)


def test_options_as_edn_for_saved_headers():
    edn = optimizer_edn(parse_optimizer("(sgd :learning-rate 0.01 :schedule {:type :step})"))
    assert edn[Keyword("type")] == Keyword("sgd")
    assert edn[Keyword("learning-rate")] == 0.01
    assert edn[Keyword("schedule")] == {Keyword("type"): Keyword("step")}
    assert optimizer_edn(None) is None
