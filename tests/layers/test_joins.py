""":concatenate, :split and :join (cortex-spec §1.11)."""

from __future__ import annotations

import pytest
import torch

import bridge
from bridge.description.shapes import Shape
from bridge.edn.types import Keyword
from bridge.layers.registry import LAYER_TYPES

F64 = {"dtype": torch.float64}


def rows(values, width):
    return torch.tensor(values, **F64).reshape(-1, width)


# --- concatenate ----------------------------------------------------------------------------


def test_concatenate_follows_parents_order_not_description_order():
    # Cortex's test: inputs :right then :left in the description
    text = ("[(input 2 1 1 :id :right) (input 3 1 1 :parents [] :id :left) "
            "(concatenate :parents [{}] :id :out)]")
    left = rows([1, 2, 3, 4, 5, 6], 3)
    right = rows([10, 20, 30, 40], 2)
    data = {"left": left, "right": right}
    lr = bridge.load_model(text.format(":left :right"), seed=0).double()
    assert lr(data)["out"].tolist() == [[1, 2, 3, 10, 20], [4, 5, 6, 30, 40]]
    rl = bridge.load_model(text.format(":right :left"), seed=0).double()
    assert rl(data)["out"].tolist() == [[10, 20, 1, 2, 3], [30, 40, 4, 5, 6]]


def test_concatenate_flattens_each_parent_planar(build_layer):
    built = build_layer("(concatenate)", Shape(2, 1, 2), Shape(1, 1, 1))
    assert built.output_shape == Shape(1, 1, 5)
    a = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]], **F64)  # channel-major: 1 2 | 3 4
    b = torch.tensor([[[[9.0]]]], **F64)
    assert built.module(a, b).tolist() == [[1, 2, 3, 4, 9]]


def test_concatenate_gradient_splits_back_to_each_parent(build_layer):
    built = build_layer("(concatenate)", Shape(1, 1, 2), Shape(1, 1, 3))
    a, b = built.inputs(batch=2, requires_grad=True)
    built.module(a, b).backward(rows([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5))
    assert a.grad.flatten().tolist() == [1, 2, 6, 7]
    assert b.grad.flatten().tolist() == [3, 4, 5, 8, 9, 10]


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [((Shape(2, 1, 1), Shape(1, 2, 3)), Shape(1, 1, 8)),
     ((Shape(3, 2, 2),), Shape(1, 1, 12)),
     ((Shape(1, 1, 4), Shape(1, 1, 4), Shape(2, 1, 1)), Shape(1, 1, 10))],
)
def test_concatenate_check_layer(check_layer, shapes, expected):
    check_layer("(concatenate)", *shapes, expected_output_shape=expected)


def test_network_test_two_inputs_into_concatenate():
    # network_test.clj: :right 25x25x10 and :left 500 → 6 750 values, then linear 10
    net = bridge.load_model(
        "[(input 25 25 10 :id :right) (input 500 1 1 :parents [] :id :left) "
        "(concatenate :parents [:left :right]) (linear 10)]", seed=0)
    assert net.layers[2].output_shape == (1, 1, 6750)
    assert net.parameters_by_layer()["linear-1"]["weights"].shape == (10, 6750)


# --- join -----------------------------------------------------------------------------------


def join_inputs():
    """Cortex's join-+-2: widths 3, 4, 5 filled from the cycle -1 -2 1 4, batch 4."""
    cycle = [-1.0, -2.0, 1.0, 4.0] * 5
    return [rows(cycle[: 4 * width], width) for width in (3, 4, 5)]


def test_join_plus_widths_3_4_5_from_cortex_test(build_layer):
    built = build_layer("(join)", Shape(1, 1, 3), Shape(1, 1, 4), Shape(1, 1, 5))
    assert built.node["operation"] == Keyword("+")
    assert built.output_shape == Shape(1, 1, 5)
    assert built.module(*join_inputs()).tolist() == [
        [-3, -6, 3, 8, -1], [1, -2, 3, 3, -2], [1, 6, -1, 2, 1], [1, -2, 3, 5, 4]]


def test_join_times_widths_3_4_5(build_layer):
    built = build_layer("(join :operation :*)", Shape(1, 1, 3), Shape(1, 1, 4), Shape(1, 1, 5))
    assert built.output_shape == Shape(1, 1, 5)
    # left rows -1 -2 1 | 4 -1 -2 | 1 4 -1 | -2 1 4; middle always -1 -2 1 4;
    # right rows -1 -2 1 4 -1 | -2 1 4 -1 -2 | 1 4 -1 -2 1 | 4 -1 -2 1 4
    # → products over the first 3 columns, then 0 0
    assert built.module(*join_inputs()).tolist() == [
        [-1, -8, 1, 0, 0], [8, 2, -8, 0, 0], [-1, -32, 1, 0, 0], [8, 2, -8, 0, 0]]


def test_join_plus_of_two_equal_inputs_from_cortex_test(build_layer):
    built = build_layer("(join)", Shape(1, 1, 5), Shape(1, 1, 5))
    left = rows(range(20), 5)
    right = rows(range(20, 40), 5)
    assert built.module(left, right).tolist() == (left + right).tolist()


def test_join_gradients(build_layer):
    plus = build_layer("(join)", Shape(1, 1, 2), Shape(1, 1, 3))
    a, b = plus.inputs(batch=1, requires_grad=True)
    plus.module(a, b).backward(rows([1, 2, 3], 3))
    assert a.grad.flatten().tolist() == [1, 2] and b.grad.flatten().tolist() == [1, 2, 3]
    times = build_layer("(join :operation :*)", Shape(1, 1, 2), Shape(1, 1, 3))
    a = rows([2, 3], 2).requires_grad_(True)
    b = rows([5, 7, 11], 3).requires_grad_(True)
    times.module(a, b).backward(rows([1, 1, 1], 3))
    assert a.grad.tolist() == [[5, 7]] and b.grad.tolist() == [[2, 3, 0]]


@pytest.mark.parametrize(
    ("shapes", "expected", "repr_piece"),
    [
        ((Shape(2, 3, 3), Shape(2, 3, 3)), Shape(2, 3, 3), "sizes=[18 18]"),  # common shape
        ((Shape(2, 1, 2), Shape(1, 2, 2)), Shape(1, 1, 4), "sizes=[4 4]"),  # same size only
        ((Shape(1, 1, 3), Shape(1, 1, 4), Shape(1, 1, 5)), Shape(1, 1, 5), "sizes=[3 4 5]"),
        ((Shape(3, 1, 1),), Shape(3, 1, 1), "sizes=[3]"),
    ],
)
def test_join_check_layer(check_layer, shapes, expected, repr_piece):
    check_layer("(join)", *shapes, expected_output_shape=expected, repr_contains=(repr_piece,))
    check_layer("(join :operation :*)", *shapes, expected_output_shape=expected,
                repr_contains=("operation=*, " + repr_piece,))


# --- split ----------------------------------------------------------------------------------


def test_split_is_the_identity(check_layer):
    built = check_layer("(split)", Shape(2, 2, 1), expected_output_shape=Shape(2, 2, 1))
    (x,) = built.inputs()
    assert built.module(x) is x


def test_split_feeds_several_children_and_sums_their_gradients():
    net = bridge.load_model("[(input 4 :id :x) (split :id :s) (linear 2 :id :a)"
                            " (linear 3 :id :b :parents [:s])]", seed=0).double()
    assert net.output_ids == ("a", "b")
    x = torch.ones(2, 4, **F64, requires_grad=True)
    out = net({"x": x})
    assert out["a"].shape == (2, 2) and out["b"].shape == (2, 3)
    (out["a"].sum() + out["b"].sum()).backward()
    weights = net.parameters_by_layer()
    expected = weights["a"]["weights"].sum(0) + weights["b"]["weights"].sum(0)
    torch.testing.assert_close(x.grad, expected.expand(2, 4))


def test_split_of_splits_from_cortex_test():
    # split with one child passes through; outputs equal the input
    net = bridge.load_model("[(input 1 1 5 :id :data) (split :id :test) (split :id :split-1)"
                            " (split :parents [:test] :id :split-2)]", seed=0).double()
    x = torch.arange(25.0, **F64).reshape(5, 5)
    out = net({"data": x})
    assert torch.equal(out["split-1"], x) and torch.equal(out["split-2"], x)


# --- specs and validation -------------------------------------------------------------------


def test_specs():
    concatenate, split, join = (LAYER_TYPES[t] for t in ("concatenate", "split", "join"))
    assert concatenate.parents == (1, None) and join.parents == (1, None)
    assert split.parents == (1, 1)
    assert join.defaults == {"operation": Keyword("+")}
    assert all(spec.params == () for spec in (concatenate, split, join))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[(input 3 :id :a) (input 3 :parents [] :id :b) (join :parents [:a :b] :operation :-)]",
         ":operation must be one of :+ :*. Received: :operation :-"),
        ("[(input 3 :id :a) (input 3 :parents [] :id :b) (split :parents [:a :b])]",
         "a :split layer takes exactly 1 parent. Received: :parents [:a :b]"),
        ("[(input 3 :id :a) (concatenate :parents [])]",
         "a :concatenate layer takes at least 1 parent. Received: :parents []"),
    ],
)
def test_validation_messages(model_error, text, reason):
    assert model_error(text).reason == reason


@pytest.mark.parametrize(
    ("layer", "shapes"),
    [
        ("(concatenate)", (Shape(1, 1, 3), Shape(2, 1, 1))),
        ("(join)", (Shape(1, 1, 3), Shape(1, 1, 4))),
        ("(join :operation :*)", (Shape(1, 1, 3), Shape(1, 1, 4), Shape(1, 2, 1))),
        ("(join :operation :*)", (Shape(2, 1, 2), Shape(2, 1, 2))),
        ("(split)", (Shape(2, 1, 2),)),
    ],
)
def test_gradcheck(build_layer, layer, shapes):
    built = build_layer(layer, *shapes)
    assert torch.autograd.gradcheck(built.module, built.inputs(requires_grad=True))
