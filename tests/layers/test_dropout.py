""":dropout, Bernoulli with a KEEP probability and Gaussian with a variance
(cortex-spec §1.6)."""

from __future__ import annotations

import pytest
import torch

from bridge.description.shapes import Shape
from bridge.edn.types import Keyword
from bridge.layers.registry import LAYER_TYPES

F64 = {"dtype": torch.float64}


def seeded(module, x, seed=0):
    """One training forward with torch's default generator seeded, leaving it as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return module(x)


def test_probability_is_the_keep_probability(build_layer):
    module = build_layer("(dropout 0.8)", Shape(1, 1, 100_000)).module
    module.train()
    out = seeded(module, torch.ones(1, 100_000, **F64))
    kept = (out != 0).double().mean().item()
    # binomial sd √(0.8·0.2/1e5) ≈ 0.0013: 0.8 kept, never 0.2
    assert kept == pytest.approx(0.8, abs=0.006)
    assert set(out.unique().tolist()) == {0.0, 1.25}  # kept values × 1/0.8
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)  # inverted: mean preserved


@pytest.mark.parametrize(("p", "factor"), [(0.5, 2.0), (0.1, 10.0), (0.25, 4.0), (0.3, 1 / 0.3)])
def test_kept_values_are_scaled_by_exactly_one_over_p(build_layer, p, factor):
    module = build_layer(f"(dropout {p})", Shape(1, 1, 2000)).module
    module.train()
    out = seeded(module, torch.full((1, 2000), 3.0, **F64))
    assert set(out.unique().tolist()) == {0.0, 3.0 * factor}


def test_eval_is_the_identity(build_layer):
    for layer in ("(dropout 0.5)", "(multiplicative-dropout 0.5)"):
        module = build_layer(layer, Shape(1, 1, 5)).module
        module.eval()
        x = torch.arange(5.0, **F64).reshape(1, 5)
        assert module(x) is x


def test_keep_probability_one_and_variance_zero_are_the_identity_in_training(build_layer):
    for layer in ("(dropout 1)", "(dropout 1.0)", "(multiplicative-dropout 0)"):
        module = build_layer(layer, Shape(1, 1, 5)).module
        module.train()
        x = torch.arange(5.0, **F64).reshape(1, 5)
        assert torch.equal(module(x), x)


def test_gaussian_mask_has_mean_one_the_given_variance_and_no_rescale(build_layer):
    built = build_layer("(multiplicative-dropout 0.25)", Shape(1, 1, 200_000))
    assert built.node["distribution"] == Keyword("gaussian")
    module = built.module
    module.train()
    out = seeded(module, torch.full((1, 200_000), 2.0, **F64))
    # 2·N(1, 0.25): mean 2, variance 4·0.25 = 1 (a std of 0.25 would give 0.25)
    assert out.mean().item() == pytest.approx(2.0, abs=0.01)
    assert out.var().item() == pytest.approx(1.0, abs=0.02)


def test_backward_multiplies_by_the_same_mask(build_layer):
    # Cortex's test: the zeros of the output and of the input gradient coincide
    for layer in ("(dropout 0.8)", "(multiplicative-dropout 0.5)"):
        module = build_layer(layer, Shape(1, 1, 100)).module
        module.train()
        x = torch.ones(5, 100, **F64, requires_grad=True)
        out = seeded(module, x)
        out.backward(torch.full_like(out, 2.0))
        assert torch.equal(x.grad, 2.0 * out.detach())  # x = 1, so the mask is the output


def test_draws_from_the_default_generator(build_layer):
    module = build_layer("(dropout 0.5)", Shape(1, 1, 64)).module
    module.train()
    x = torch.ones(4, 64, **F64)
    assert torch.equal(seeded(module, x, seed=3), seeded(module, x, seed=3))
    assert not torch.equal(seeded(module, x, seed=3), seeded(module, x, seed=4))


def test_mask_is_per_value_per_sample(build_layer):
    module = build_layer("(dropout 0.5)", Shape(1, 1, 64)).module
    module.train()
    out = seeded(module, torch.ones(2, 64, **F64))
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize(
    ("layer", "shape", "repr_piece"),
    [
        ("(dropout 0.5)", Shape(3, 2, 2), "probability=0.5 (keep)"),
        ("(dropout {:probability 0.9})", Shape(1, 1, 7), "probability=0.9 (keep)"),
        ("(multiplicative-dropout 0.1)", Shape(2, 3, 1), "distribution=gaussian, variance=0.1"),
        ("{:type :dropout :distribution :gaussian :variance 0.2}", Shape(1, 1, 4),
         "variance=0.2"),
    ],
)
def test_check_layer(check_layer, layer, shape, repr_piece):
    check_layer(layer, shape, expected_output_shape=shape, repr_contains=(repr_piece,))


def test_spec():
    spec = LAYER_TYPES["dropout"]
    assert spec.flat_ok
    assert spec.defaults == {"distribution": Keyword("bernoulli")}
    assert spec.params == ()


def test_an_expanded_map_defaults_to_bernoulli(build_layer):
    built = build_layer("{:type :dropout :probability 0.75}", Shape(1, 1, 4))
    assert built.node["distribution"] == Keyword("bernoulli")
    assert built.module.probability == 0.75


@pytest.mark.parametrize(
    ("layer", "reason"),
    [
        ("(dropout 1.5)",
         ":probability (the keep probability) must be a number > 0 and <= 1. "
         "Received: :probability 1.5"),
        ("(dropout 0)",
         ":probability (the keep probability) must be a number > 0 and <= 1. "
         "Received: :probability 0"),
        ("{:type :dropout}",
         ":probability (the keep probability) must be a number > 0 and <= 1. "
         "Received: :probability nil"),
        ("(multiplicative-dropout -0.1)",
         ":variance must be a number >= 0. Received: :variance -0.1"),
        ("{:type :dropout :distribution :uniform :probability 0.5}",
         ":distribution must be one of :bernoulli :gaussian. Received: :distribution :uniform"),
    ],
)
def test_validation_messages(model_error, layer, reason):
    assert model_error(f"[(input 4) {layer}]").reason == reason


@pytest.mark.parametrize("layer", ["(dropout 0.7)", "(multiplicative-dropout 0.3)"])
def test_gradcheck(build_layer, layer):
    built = build_layer(layer, Shape(2, 2, 2))
    built.module.train()

    def with_a_fixed_mask(x):  # the same mask at every call gradcheck makes
        return seeded(built.module, x)

    assert torch.autograd.gradcheck(with_a_fixed_mask, built.inputs(requires_grad=True))
