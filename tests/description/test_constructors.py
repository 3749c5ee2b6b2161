"""Each constructor returns Cortex's maps (cortex-spec §1), keyed by str, values as EDN."""

from __future__ import annotations

import pytest

import bridge
from bridge.description.constructors import ConstructorError, call_constructor, split_args
from bridge.edn.types import Keyword as K
from bridge.edn.types import Vector


def build(name, *items):
    args, kvs = split_args(name, list(items))
    return call_constructor(name, args, kvs)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (("input", 784), [{"type": "input", "output-size": 784, "output-width": 784,
                           "output-height": 1, "output-channels": 1, "width": 784}]),
        (("input", 28, 28, 1, K("id"), K("data")),
         [{"type": "input", "output-size": 784, "output-width": 28, "output-height": 28,
           "output-channels": 1, "id": K("data")}]),
        (("input", {K("width"): 4, K("height"): 3, K("channels"): 2}),
         [{"type": "input", "output-size": 24, "output-width": 4, "output-height": 3,
           "output-channels": 2, "width": 4, "height": 3, "channels": 2}]),
        (("linear", 10, K("id"), K("fc")), [{"type": "linear", "output-size": 10, "id": K("fc")}]),
        (("linear", {K("output-size"): 3}), [{"type": "linear", "output-size": 3}]),
        (("dense", 128), [{"type": "linear", "output-size": 128}]),
        (("convolutional", 5, 0, 1, 20),
         [{"type": "convolutional", "kernel-width": 5, "kernel-height": 5, "pad-x": 0,
           "pad-y": 0, "stride-x": 1, "stride-y": 1, "num-kernels": 20,
           "dimension-op": K("floor"), "kernel-dim": 5, "pad": 0, "stride": 1}]),
        (("max-pooling", 2, 0, 2, K("pool-op"), K("avg")),
         [{"type": "max-pooling", "kernel-width": 2, "kernel-height": 2, "pad-x": 0,
           "pad-y": 0, "stride-x": 2, "stride-y": 2, "num-kernels": 0,
           "dimension-op": K("ceil"), "kernel-dim": 2, "pad": 0, "stride": 2,
           "pool-op": K("avg")}]),
        (("dropout", 0.8), [{"type": "dropout", "distribution": K("bernoulli"),
                             "probability": 0.8}]),
        (("multiplicative-dropout", 0.1), [{"type": "dropout", "distribution": K("gaussian"),
                                            "variance": 0.1}]),
        (("relu", K("id"), K("r")), [{"type": "relu", "id": K("r")}]),
        (("softmax", K("output-channels"), 4), [{"type": "softmax", "output-channels": 4}]),
        (("batch-normalization",), [{"type": "batch-normalization", "average-factor": 0.9,
                                     "epsilon": 1e-4, "mode": K("elementwise")}]),
        (("batch-normalization", K("ave-factor"), 0.5, K("epsilon"), 1e-3),
         [{"type": "batch-normalization", "average-factor": 0.5, "epsilon": 1e-3,
           "mode": K("elementwise"), "ave-factor": 0.5}]),
        (("local-response-normalization",),
         [{"type": "local-response-normalization", "k": 2, "n": 5, "alpha": 1e-4,
           "beta": 0.75}]),
        (("join", K("parents"), Vector([K("a"), K("b")])),
         [{"type": "join", "operation": K("+"), "parents": Vector([K("a"), K("b")])}]),
        (("concatenate",), [{"type": "concatenate"}]),
        (("linear->softmax", 2, K("id"), K("out")),
         [{"type": "linear", "output-size": 2}, {"type": "softmax", "id": K("out")}]),
        (("linear->relu", 100, K("l2-regularization"), 1e-3),
         [{"type": "linear", "output-size": 100, "l2-regularization": 1e-3},
          {"type": "relu", "l2-regularization": 1e-3}]),
        (("convolutional-type-layer", K("convolutional"), 3, 4, 1, 0, 1, 2, 8, K("floor")),
         [{"type": "convolutional", "kernel-width": 3, "kernel-height": 4, "pad-x": 1,
           "pad-y": 0, "stride-x": 1, "stride-y": 2, "num-kernels": 8,
           "dimension-op": K("floor")}]),
    ],
)
def test_constructor_returns_cortex_maps(call, expected):
    assert build(*call) == expected


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        # convolutional forces :dimension-op :floor over the options (layers.clj:394-407)
        (("convolutional", 3, 0, 1, 4, K("dimension-op"), K("ceil")),
         [{"type": "convolutional", "kernel-width": 3, "kernel-height": 3, "pad-x": 0,
           "pad-y": 0, "stride-x": 1, "stride-y": 1, "num-kernels": 4,
           "dimension-op": K("floor"), "kernel-dim": 3, "pad": 0, "stride": 1}]),
        (("convolutional", {K("kernel-dim"): 3, K("pad"): 0, K("stride"): 1,
                            K("num-kernels"): 4, K("dimension-op"): K("ceil")}),
         [{"type": "convolutional", "kernel-width": 3, "kernel-height": 3, "pad-x": 0,
           "pad-y": 0, "stride-x": 1, "stride-y": 1, "num-kernels": 4,
           "dimension-op": K("floor"), "kernel-dim": 3, "pad": 0, "stride": 1}]),
        # the positional form is the map form of positional values merged with options
        (("convolutional", 3, 1, 1, 4, K("stride"), 2),
         [{"type": "convolutional", "kernel-width": 3, "kernel-height": 3, "pad-x": 1,
           "pad-y": 1, "stride-x": 2, "stride-y": 2, "num-kernels": 4,
           "dimension-op": K("floor"), "kernel-dim": 3, "pad": 1, "stride": 2}]),
        (("max-pooling", 2, 0, 2, K("kernel-dim"), 3),
         [{"type": "max-pooling", "kernel-width": 3, "kernel-height": 3, "pad-x": 0,
           "pad-y": 0, "stride-x": 2, "stride-y": 2, "num-kernels": 0,
           "dimension-op": K("ceil"), "kernel-dim": 3, "pad": 0, "stride": 2,
           "pool-op": K("max")}]),
        # the map arities of the dropouts force their distribution
        (("dropout", {K("probability"): 0.5, K("distribution"): K("gaussian")}),
         [{"type": "dropout", "distribution": K("bernoulli"), "probability": 0.5}]),
        (("multiplicative-dropout", {K("variance"): 0.2, K("distribution"): K("bernoulli")}),
         [{"type": "dropout", "distribution": K("gaussian"), "variance": 0.2}]),
    ],
)
def test_constructor_option_precedence_is_cortex_s(call, expected):
    assert build(*call) == expected


def test_a_ceil_option_on_a_convolution_still_builds_with_floor_sizing():
    # Cortex forces floor at construction, so this is a valid 4x4 -> 2x2 convolution
    # (ceil would give 3x3); an expanded map that says :ceil is refused, as Cortex does.
    net = bridge.load_model("[(input 4 4 1) (convolutional 2 0 2 1 :dimension-op :ceil)]")
    assert tuple(net.layers[-1].output_shape) == (1, 2, 2)
    with pytest.raises(bridge.ModelError, match="dimension-op must be :floor"):
        bridge.load_model("[(input 4 4 1) {:type :convolutional :kernel-dim 2 :pad 0 "
                          ":stride 2 :num-kernels 1 :dimension-op :ceil}]")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (("linear",), "(linear …) takes an output size. Received 0 positional arguments"),
        (("linear", 1, 2), "(linear …) takes an output size. Received 2 positional arguments"),
        (("relu", 3), "(relu …) takes only keyword options such as :id. Received 1 positional "
                      "argument"),
        (("convolutional", 5, 0, 1),
         "(convolutional …) takes kernel-dim pad stride num-kernels. Received 3 positional "
         "arguments"),
        (("convolutional", {K("kernel-dim"): 5}),
         "(convolutional {…}) needs :pad :stride :num-kernels"),
        (("input", 1, 2), "(input …) takes a width, a {:width :height :channels} map, or width "
                          "height channels. Received 2 positional arguments"),
    ],
)
def test_constructor_argument_errors(call, message):
    with pytest.raises(ConstructorError) as caught:
        build(*call)
    assert str(caught.value) == message


def test_odd_keyword_pairs_are_an_error():
    with pytest.raises(ConstructorError, match=r"needs keyword/value pairs .* :id has no value"):
        split_args("linear", [10, K("id")])


def test_repeated_option_is_an_error():
    with pytest.raises(ConstructorError, match=r"gives :id twice"):
        split_args("linear", [10, K("id"), K("a"), K("id"), K("b")])
