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
    with pytest.raises(ModelError, match=r"^<string>:1:201: forms nest deeper than 200 levels"):
        bridge.load_model(text)


# --- any input: only ModelError, in linear time, nothing allocated past the limit ---------

def test_bytes_that_are_not_utf8_name_the_byte(edn_file):
    data = b"[(input 2)\n (linear \xff 2)]"
    with pytest.raises(ModelError, match=r"^<string>:2:10: the text is not UTF-8: byte 20 "
                                         r"\(0xff\) invalid start byte"):
        bridge.load_model(data)
    path = edn_file("")
    path.write_bytes(data)
    with pytest.raises(ModelError, match=r"model\.edn:2:10: the text is not UTF-8: byte 20"):
        bridge.load_model(path)


def test_unreadable_path_is_a_model_error_naming_it(tmp_path):
    with pytest.raises(ModelError, match=r"cannot read model file .*: .*embedded null"):
        bridge.load_model(tmp_path / "a\x00b.edn")
    with pytest.raises(ModelError, match=r"cannot read model file .*dir\.edn"):
        (tmp_path / "dir.edn").mkdir()
        bridge.load_model(tmp_path / "dir.edn")


@pytest.mark.parametrize("opener, closer", [("[", "]"), ("(linear ", ")"), ("{:a ", "}"),
                                            ("#{", "}")])
def test_nesting_past_the_model_limit_is_refused_by_the_reader(opener, closer):
    from bridge.saving.load import MODEL_MAX_DEPTH

    deep = opener * (MODEL_MAX_DEPTH + 1) + "1" + closer * (MODEL_MAX_DEPTH + 1)
    with pytest.raises(EdnSyntaxError, match=f"nest deeper than {MODEL_MAX_DEPTH} levels"):
        bridge.load_model("[(input 2) " + deep + "]")
    shallow = opener * 100 + "1" + closer * 100
    with pytest.raises(ModelError) as caught:  # read, then refused as a layer
        bridge.load_model("[(input 2) " + shallow + "]")
    assert "nest deeper" not in str(caught.value)


def test_deep_data_given_parsed_is_refused_without_recursion():
    data = [0]
    for _ in range(100_000):
        data = [data]
    with pytest.raises(ModelError, match="nests deeper than 200 levels"):
        bridge.load_model(data)


def test_deep_reprs_do_not_recurse():
    from bridge.edn.types import EdnList, EdnMap, Vector

    for make in (lambda v: Vector([v]), lambda v: EdnList([v]), lambda v: EdnMap({1: v})):
        value = 1
        for _ in range(50_000):
            value = make(value)
        assert "…" in repr(value)


def test_pooling_buffers_count_against_the_limit_before_allocation():
    # The output is 3x3, but the padded map of real cells would be 100,010 squared.
    text = "[(input 10 10 1) (max-pooling 3 50000 50000)]"
    with pytest.raises(ModelError, match=r"layer 2 \(:max-pooling-1 :max-pooling\): the "
                                         r"network would hold more than 1,000,000,000 values"):
        bridge.load_model(text)
    assert bridge.load_model("[(input 10 10 1) (max-pooling 3 5 5)]").layers[1].output_shape \
        == (1, 5, 5)


def test_one_samples_activations_count_against_the_limit():
    text = "[(input 1000 1000 20) (relu)]"  # no parameters, 2 x 20,000,000 values
    with pytest.raises(ModelError, match=r"more than 10,000,000 values \(parameters, buffers "
                                         r"and the activations of one sample: 20,000,000"):
        bridge.load_model(text, max_parameters=10_000_000)
    assert bridge.load_model(text, max_parameters=50_000_000).layers[1].output_size \
        == 20_000_000


def test_an_orthogonal_initialisations_square_matrix_counts_against_the_limit():
    text = "[(input 100000) (linear 1 :weights {:initialization {:type :orthogonal}})]"
    with pytest.raises(ModelError, match=r"more than 1,000,000,000 values .*10,000,200,002"):
        bridge.load_model(text)  # 100,001 parameters, but QR of a 100,000² matrix
    small = "[(input 10) (linear 3 :weights {:initialization {:type :orthogonal}})]"
    assert bridge.load_model(small, max_parameters=200).parameter_count == 33


def test_inline_integers_too_large_for_floats_are_model_errors():
    with pytest.raises(ModelError, match=r"layer 2: :bias holds an integer too large"):
        bridge.load_model("[(input 2) (linear 1 :bias [" + "9" * 400 + "])]")


def test_errors_on_huge_inputs_come_in_linear_time():
    import time

    cases = {
        "unknown parents": "[(input 2) " + " ".join(f"(relu :parents [:x{i}])"
                                                    for i in range(8000)) + "]",
        "duplicate key after a long string":
            '{:name "' + "a" * 4_000_000 + '" :name 1 :description [(input 2)]}',
        "duplicate key after a long escaped string":
            '{:name "' + "a\\n" * 1_000_000 + '" :name 1 :description [(input 2)]}',
        "a long invalid token": "[" + "a/" * 1_000_000 + "]",
        "a million character literals": "[" + "\\u0041 \\n" * 500_000 + "]",
        "a map of 100,000 keys": "{" + " ".join(f":k{i} {i}" for i in range(100_000))
                                  + " :k0 0}",
    }
    for what, text in cases.items():
        start = time.process_time()  # CPU time: other processes on the machine don't count
        with pytest.raises(ModelError):
            bridge.load_model(text)
        assert time.process_time() - start < 5, what


def test_an_unexpected_failure_is_still_a_model_error(monkeypatch):
    from bridge.saving import load

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(load, "plan_network", broken)
    with pytest.raises(ModelError, match="internal error while loading: RuntimeError: a bug"):
        bridge.load_model(MLP)

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(load, "plan_network", exhausted)
    with pytest.raises(ModelError, match=r"not enough memory to build the network \(within "
                                         r"max_parameters=1,000,000,000\)"):
        bridge.load_model(MLP)


# --- saved networks: every parameter present, only known keys, whole-file checksum -------

SAVED = "[(input 3 :id :data) (linear 4) (relu) (linear 2 :id :labels)]"


def _saved(encoding="tensor", checksum=True):
    from bridge.saving.save import network_to_edn

    net = bridge.load_model(SAVED, seed=4)
    return net, network_to_edn(net, encoding=encoding, checksum=checksum)


def _same_parameters(a, b):
    pa, pb = a.parameters_by_layer(), b.parameters_by_layer()
    return pa.keys() == pb.keys() and all(
        torch.equal(pa[layer][k], pb[layer][k]) for layer in pa for k in pa[layer])


@pytest.mark.parametrize("encoding", ["tensor", "vector"])
def test_saved_files_round_trip_with_their_checksum(encoding, tmp_path):
    net, text = _saved(encoding)
    assert re.search(r"\n :cortex-bridge/crc32 \d+\n :description", text)
    again = bridge.network_from_edn(text)
    assert _same_parameters(net, again)
    assert "cortex-bridge/crc32" not in again.header  # a re-save computes a fresh one
    bridge.save_network(again, tmp_path / "again.edn", encoding=encoding)
    assert _same_parameters(net, bridge.load_network(tmp_path / "again.edn"))


@pytest.mark.parametrize("encoding", ["tensor", "vector"])
@pytest.mark.parametrize("checksum", [True, False])
def test_a_misspelt_parameter_key_is_an_error_not_a_fresh_initialisation(encoding, checksum):
    _, text = _saved(encoding, checksum)
    damaged = text.replace(":weights", ":weLghts", 1)
    expected = "the file is damaged" if checksum else \
        r"layer 2 \(:linear-1 :linear\): :weights is missing"
    with pytest.raises(ModelError, match=expected) as caught:
        bridge.network_from_edn(damaged)
    if not checksum:
        assert "unknown key :weLghts for a :linear layer in a file written by cortex-bridge. " \
               "Did you mean :weights?" in str(caught.value)


def test_a_missing_parameter_in_a_saved_file_is_named():
    _, text = _saved("vector", checksum=False)
    damaged = re.sub(r"\n *:bias \[[^\]]*\]", "", text, count=1)
    with pytest.raises(ModelError, match=r"layer 2 \(:linear-1 :linear\): :bias is missing"):
        bridge.network_from_edn(damaged)


def test_a_description_without_the_saved_header_still_initialises_what_is_missing():
    net = bridge.load_model("{:cortex-bridge/format 1 :description [(input 2) (linear 1 "
                            ":weights [[1 2]])]}", seed=0)
    assert net.parameters_by_layer()["linear-1"]["bias"].tolist() == [0.0]


def test_a_vector_number_changed_under_a_checksum_is_refused():
    _, text = _saved("vector")
    match = re.search(r":bias \[(-?\d)", text)
    digit = match.group(1)[-1]
    damaged = text[:match.end() - 1] + str((int(digit) + 1) % 10) + text[match.end():]
    with pytest.raises(ModelError, match=r"the file is damaged: :cortex-bridge/crc32 says \d+ "
                                         r"but its contents give \d+\. If you edited it on "
                                         r"purpose, delete the :cortex-bridge/crc32 entry"):
        bridge.network_from_edn(damaged)


def test_a_hand_edited_file_without_the_checksum_loads_with_the_edit():
    net, text = _saved("vector")
    edited = re.sub(r"\n :cortex-bridge/crc32 \d+", "", text)
    assert edited.endswith(":bias [0.0 0.0]}]}\n")
    edited = edited.replace(":bias [0.0 0.0]}]}", ":bias [7.0 7.0]}]}")
    again = bridge.network_from_edn(edited)
    assert again.parameters_by_layer()["labels"]["bias"].tolist() == [7.0, 7.0]


def test_a_checksummed_file_damaged_in_any_byte_does_not_load(tmp_path):
    _, text = _saved("tensor")
    data = text.encode()
    path = tmp_path / "net.edn"
    for position in range(0, len(data), max(1, len(data) // 150)):
        damaged = bytearray(data)
        damaged[position] ^= 0x04
        path.write_bytes(bytes(damaged))
        with pytest.raises(ModelError):
            bridge.load_network(path)


def test_unknown_keys_in_a_saved_file_are_errors_unless_the_checksum_vouches():
    with pytest.warns(bridge.UnknownKeyWarning, match="unknown key :comment"):
        net = bridge.load_model("[(input 2) (linear 1 :comment \"mine\")]", seed=0)
    from bridge.saving.save import network_to_edn

    again = bridge.network_from_edn(network_to_edn(net))  # verified: kept as written
    assert again.layers[1].node["comment"] == "mine"
    with pytest.raises(ModelError, match=r"unknown key :comment for a :linear layer"):
        bridge.network_from_edn(network_to_edn(net, checksum=False))


def test_a_damaged_option_key_in_a_saved_file_is_named():
    net = bridge.load_model("[(input 4 2 1) (max-pooling 2 0 2 :pool-op :avg)]", seed=0)
    from bridge.saving.save import network_to_edn

    damaged = network_to_edn(net, checksum=False).replace(":pool-op", ":pool-oq")
    with pytest.raises(ModelError, match=r":pool-op is missing") as caught:
        bridge.network_from_edn(damaged)
    assert "unknown key :pool-oq" in str(caught.value)


def test_an_unknown_cortex_bridge_header_key_is_damage():
    _, text = _saved("tensor")
    damaged = text.replace(":cortex-bridge/crc32", ":cortex-bridge/crc3w")
    with pytest.raises(ModelError, match=r"unknown header key :cortex-bridge/crc3w \(did you "
                                         r"mean :cortex-bridge/crc32\?\): the file is damaged"):
        bridge.network_from_edn(damaged)


ALL_LAYERS = [
    "[(input 6 6 2 :id :data) (convolutional 3 1 1 3) (max-pooling 2 0 2 :pool-op :avg) "
    "(batch-normalization) (local-response-normalization) "
    "(relu :center-loss {:labels {:stream :labels}}) (linear 8) (prelu) (swish) (selu) "
    "(logistic) (tanh) (dropout 0.5) (linear 4) (softmax :id :labels)]",
    "[(input 4 :id :a) (input 4 :id :b :parents []) (join :parents [:a :b] :operation :*) "
    "(concatenate :parents [:join-1 :a]) (split) (batch-normalization) "
    "(dropout 0.5 :distribution :gaussian :variance 0.1) (dropout 0.5)]",
    "[{:type :input :output-size 6 :output-width 3 :output-height 2 :output-channels 1} "
    "{:type :max-pooling :kernel-dim 2 :pad 1 :stride 1 :pool-op :avg-exc-pad} "
    "{:type :convolutional :kernel-dim 1 :pad 0 :stride 1 :num-kernels 2} {:type :prelu} "
    "{:type :linear :output-size 2} {:type :batch-normalization :mode :spatial}]",
    "(nn/sequential [(nn/input 784) (nn/dense 12) (nn/relu) (nn/dense 10) (nn/softmax)])",
]


@pytest.mark.parametrize("text", ALL_LAYERS)
@pytest.mark.parametrize("encoding", ["tensor", "vector"])
def test_every_layer_type_reloads_strictly_without_the_checksum(text, encoding):
    from bridge.saving.save import network_to_edn

    net = bridge.load_model(text, seed=0)
    again = bridge.network_from_edn(network_to_edn(net, encoding=encoding, checksum=False))
    assert _same_parameters(net, again)


def test_a_large_checksummed_file_takes_the_payload_path_and_is_verified(tmp_path):
    from bridge.edn.payloads import MIN_PAYLOAD

    net = bridge.load_model("[(input 200) (linear 100)]", seed=0)
    path = tmp_path / "big.edn"
    bridge.save_network(net, path)
    data = path.read_bytes()
    assert len(data) > MIN_PAYLOAD
    assert _same_parameters(net, bridge.load_network(path))
    middle = data.index(b':data "') + 50_000  # inside the weights' base64
    damaged = bytearray(data)
    damaged[middle:middle + 4] = b"AAAA" if damaged[middle:middle + 4] != b"AAAA" else b"BBBB"
    path.write_bytes(bytes(damaged))
    with pytest.raises(ModelError, match="damaged"):
        bridge.load_network(path)


def test_sizes_multiplied_past_printable_ints_are_model_errors():
    huge = "9" * 4000
    with pytest.raises(ModelError, match=r"more than 1,000,000,000 values \(parameters, "
                                         r"buffers and the activations of one sample: about "
                                         r"10\^\d{4} up to this layer\)"):
        bridge.load_model(f"[(input 2 2 1) (max-pooling 1 {huge} {huge})]")
    with pytest.raises(ModelError, match="declares more values than any memory holds"):
        bridge.load_model("[(input 2) (linear 1 :bias #cortex-bridge/tensor {:dtype :float32 "
                          f":shape [{huge} {huge}] :data \"\" :crc32 0}})]")
