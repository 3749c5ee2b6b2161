"""load_model on good and bad input: every mistake is a ModelError naming file, line,
column and layer, and nothing else ever escapes."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bridge
from bridge.errors import EdnSyntaxError, ModelError, ModelErrors

MLP = "[(input 4) (linear 3) (relu) (linear 2)]"

# (model text, expected message after "model.edn:"), exact text. {file} is the path.
BAD_MODELS = [
    ("[(input 784) (linear 0)]",
     "1:14: layer 2 (:linear-1 :linear): :output-size must be a positive integer. "
     "Received: :output-size 0"),
    ("[(input 784)\n (linear 2.5)]",
     "2:2: layer 2 (:linear-1 :linear): :output-size must be a positive integer. "
     "Received: :output-size 2.5"),
    ("[(input 784) {:type :lineer :output-size 3}]",
     r"1:14: layer 2 \(:lineer-1 :lineer\): unknown layer type :lineer\. Did you mean :linear\?"),
    ("[(input 784) {:output-size 3}]",
     "1:14: layer 2: a layer map needs a :type, e.g. {:type :linear :output-size 10}"),
    ("[(input 784) {:type \"linear\" :output-size 3}]",
     "1:14: layer 2: :type must be a keyword such as :linear. Received: :type \"linear\""),
    ("[(input 784) (linear 10 :id \"fc\")]",
     "1:14: layer 2: :id must be a keyword such as :fc. Received: :id \"fc\""),
    ("[(input 784) (linear 10 :id :a) (linear 3 :id :a)]",
     "1:33: layer 3 (:a :linear): duplicate layer id :a; layer 2 already has it"),
    ("[(input 784) (linear 10 :parents [:nope])]",
     "1:14: layer 2 (:linear-1 :linear): parent :nope is not a layer in this description."),
    ("[(input 784) (linear 10 :parents [:inptu-1])]",
     "1:14: layer 2 (:linear-1 :linear): parent :inptu-1 is not a layer in this description. "
     "Did you mean :input-1?"),
    ("[(input 4) (linear 2 :weights [[1 2] [3 4]])]",
     "1:12: layer 2 (:linear-1 :linear): :weights has shape [2 2] but this layer needs [2 4]"),
    ("[(input 2) (linear 2 :weights [[1 2] [3]])]",
     "1:12: layer 2 (:linear-1 :linear): :weights must be a rectangular array of numbers"),
    ("[(input 2) {:type :linear :output-size 2 :bias {:buffer [1 2 3]}}]",
     "1:12: layer 2 (:linear-1 :linear): :bias has shape [3] but this layer needs [2]"),
    ("[(input 784) (linear 10 :weights \"abc\")]",
     "1:14: layer 2: :weights must be numbers: a vector such as [[1 2] [3 4]], {:buffer …}, or "
     "a #cortex-bridge/tensor literal. Received: \"abc\""),
    ("[(input 28 28 1) {:type :convolutional :kernel-dim 5 :pad 0 :stride-x 0 :stride-y 1\n"
     "                   :num-kernels 20}]",
     "1:18: layer 2 (:convolutional-1 :convolutional): :stride-x must be a positive integer. "
     "Received: :stride-x 0"),
    ("[(input 4 4 1) (convolutional 5 0 1 2)]",
     "1:16: layer 2 (:convolutional-1 :convolutional): a 5x5 window with pad 0x0 does not fit "
     "the 4x4 (width x height) input"),
    ("[(input 784) (linear 1000000000)]",
     "1:14: layer 2 (:linear-1 :linear): the network would have more than 1,000,000,000 "
     "parameters (this layer alone has 785,000,000,000); raise max_parameters if that is "
     "really meant"),
    ("[(input 10) (linear 3 :id :me :parents [:me])]",
     "1:13: layer 2 (:me :linear): a layer cannot be its own parent"),
    ("[(input 2 1 1 :id :x) (linear 2 :id :a :parents [:b]) (linear 2 :id :b :parents [:a])]",
     "1:23: layer 2 (:a :linear): the :parents form a cycle through :a :b"),
    ("[(input 784) (lineer 10)]",
     r"1:14: unknown layer constructor \(lineer …\)\. Did you mean linear\?"),
    ("[(input 784) 7]",
     "1:1: layer 2: expected a layer: a call like (linear 10), a map with :type, or a vector "
     "of layers. Received: 7"),
    ("[(input 784) ()]", "1:14: an empty list () is not a layer"),
    ("[(input 784) (\"linear\" 10)]",
     "1:14: a call form must start with a constructor name such as linear or layers/linear. "
     "Received: \"linear\""),
    ("[(input 784) (linear 10 :id)]",
     "1:14: (linear …) needs keyword/value pairs after its positional arguments; :id has no "
     "value"),
    ("[(input 784) (linear 10 :parents :input-1)]",
     "1:14: layer 2: :parents must be a vector of layer ids such as [:left :right]. "
     "Received: :parents :input-1"),
    ("[(input 784) (linear 10 :id :a.b)]",
     "1:14: layer 2 (:a.b :linear): a layer id may not contain '.' (torch uses it for "
     "nesting). Received: :a.b"),
    ("[(input 784) (linear 10 :id :keys)]",
     "1:14: layer 2 (:keys :linear): the layer id :keys is reserved by torch.nn.ModuleDict; "
     "choose another"),
    ("[(input 0)]",
     "1:2: layer 1 (:input-1 :input): :output-width must be a positive integer. "
     "Received: :output-width 0"),
    ("[(linear 10)]",
     "1:2: layer 1 (:linear-1 :linear): a :linear layer needs a parent, and the first layer "
     "has none; start the description with an (input …) layer"),
    ("[(input 2) (relu :center-loss {:labels {:stream :nope}})]",
     "1:12: layer 2 (:relu-1 :relu): :center-loss reads labels from stream :nope, which names "
     "no layer. Streams are named by layer ids: :input-1 :relu-1"),
    ("[(input 2) (linear 2 :parents [:input-1 :input-1])]",
     "1:12: layer 2 (:linear-1 :linear): a :linear layer takes exactly 1 parent. "
     "Received: :parents [:input-1 :input-1]"),
    ("[]", "the description has no layers"),
    ("42", "a model is a vector of layers, a call such as (nn/sequential [...]), or a map with "
           ":description. Received: int"),
    ("{:name \"x\"}", "1:1: a model map needs a :description (a vector of layers)"),
    ("{:cortex-bridge/format 2 :description [(input 2)]}",
     "this file has :cortex-bridge/format 2, written by a newer cortex-bridge; this version "
     "reads format 1. Upgrade cortex-bridge to load it"),
    ("(nn/sequential [(nn/input 784) (nn/dense 128)] :extra 1)",
     "1:1: (sequential [...]) takes a vector of layers and no options"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_MODELS, ids=range(len(BAD_MODELS)))
def test_bad_model_gives_a_clear_error(edn_file, text, expected):
    path = edn_file(text)
    with pytest.raises(ModelError) as caught:
        bridge.load_model(path)
    message = str(caught.value)
    prefix = f"{path}:" if expected[:1].isdigit() else f"{path}: "
    if "\\" in expected:
        assert re.fullmatch(re.escape(prefix) + expected + ".*", message, flags=re.S), message
    else:
        assert message == prefix + expected


def test_error_fields_locate_the_layer(edn_file):
    path = edn_file("[(input 784)\n\n   (linear 0 :id :fc)]")
    with pytest.raises(ModelError) as caught:
        bridge.load_model(path)
    error = caught.value
    assert (error.source, error.line, error.column) == (str(path), 3, 4)
    assert (error.layer_index, error.layer_id, error.layer_type) == (2, "fc", "linear")


def test_all_problems_are_reported_together():
    with pytest.raises(ModelErrors) as caught:
        bridge.load_model("[(input 784) (linear 0) (linear -1) {:type :relux}]")
    errors = caught.value.errors
    assert [e.layer_index for e in errors] == [2, 3, 4]
    assert str(caught.value).startswith("3 problems in the model description:\n")


def test_edn_syntax_errors_are_model_errors_with_position(edn_file):
    path = edn_file("[(input 784)\n (linear 10]")
    with pytest.raises(EdnSyntaxError) as caught:
        bridge.load_model(path)
    assert caught.value.source == str(path)
    assert caught.value.line == 2


def test_trailing_input_is_rejected():
    with pytest.raises(EdnSyntaxError, match="trailing"):
        bridge.load_model("[(input 2)] [(linear 1)]")


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ModelError, match=r"no such model file: .*absent\.edn"):
        bridge.load_model(tmp_path / "absent.edn")


def test_text_path_and_data_give_the_same_network(edn_file):
    from bridge.edn import loads

    path = edn_file(MLP)
    nets = [bridge.load_model(s, seed=3) for s in (MLP, path, str(path), loads(MLP))]
    states = [net.state_dict() for net in nets]
    for state in states[1:]:
        assert state.keys() == states[0].keys()
        assert all(torch.equal(state[k], states[0][k]) for k in state)


def test_seed_makes_initialisation_reproducible():
    first = bridge.load_model(MLP, seed=7).parameters_by_layer()
    second = bridge.load_model(MLP, seed=7).parameters_by_layer()
    other = bridge.load_model(MLP, seed=8).parameters_by_layer()
    assert torch.equal(first["linear-1"]["weights"], second["linear-1"]["weights"])
    assert not torch.equal(first["linear-1"]["weights"], other["linear-1"]["weights"])


def test_loading_never_touches_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    bridge.load_model(MLP, seed=1)
    assert torch.equal(torch.rand(3), expected)


def test_max_parameters_is_checked_before_allocating():
    with pytest.raises(ModelError, match="more than 100 parameters"):
        bridge.load_model("[(input 10) (linear 20)]", max_parameters=100)


# --- mutated model text only ever gives ModelError --------------------------------------

SEEDS = [
    MLP,
    "(nn/sequential [(nn/input 784) (nn/dense 128) (nn/relu) (nn/dense 10) (nn/softmax)])",
    "[(layers/input 28 28 1 :id :data) (layers/convolutional 5 0 1 20) "
    "(layers/max-pooling 2 0 2) (layers/relu) (layers/linear 10) (layers/softmax :id :labels)]",
    "{:cortex-bridge/format 1 :description [(input 2 1 1 :id :x) (linear->tanh 3) "
    "(linear 1 :id :y :weights [[1 2 3]] :bias [0.5])]}",
    "[(input 4 :id :a) (input 4 :id :b :parents []) (join :parents [:a :b] :operation :*) "
    "(concatenate :parents [:join-1 :a]) (batch-normalization) (dropout 0.5)]",
]


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        position = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from(["(", ")", "[", "]", "{", "}", ":", "#", "-1", "0",
                                      "1e9", "##NaN", ":id", ":parents", "\"", "\\", " ",
                                      "linear", "input", "#_", "^", "@", "1000000000",
                                      ":type", "~", "/", "nil", "[[1 2]]"]))
        if kind == "delete":
            text = text[:position] + text[position + 1:]
        elif kind == "insert":
            text = text[:position] + piece + text[position:]
        elif kind == "replace":
            text = text[:position] + piece + text[position + len(piece):]
        else:
            end = draw(st.integers(position, min(len(text), position + 20)))
            text = text[:end] + text[position:end] + text[end:]
    return text


@pytest.mark.filterwarnings("ignore::bridge.errors.UnknownKeyWarning")  # a mutated key
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_models_only_raise_model_error(text):
    try:
        bridge.load_model(text, seed=0, max_parameters=10_000_000)
    except ModelError:
        pass


def test_deep_nesting_is_a_model_error_not_a_crash():
    text = "[" * 5000 + "(input 2)" + "]" * 5000
    try:
        bridge.load_model(text)
    except ModelError:
        pass
