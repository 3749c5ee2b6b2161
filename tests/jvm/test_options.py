"""The trainer's options in Clojure's words (bridge/jvm/options.py; no JVM needed)."""

from __future__ import annotations

import pytest

from bridge.edn.types import Keyword
from bridge.errors import OptionError
from bridge.jvm.options import check_options, clojure_message, named_parts, train_options


def test_python_names_become_clojure_names():
    assert clojure_message("`batch_size` must be >= 1. Received: batch_size=0") == \
        ":batch-size must be >= 1. Received: :batch-size 0"
    assert clojure_message("drop_last leaves no batch") == ":drop-last leaves no batch"
    assert clojure_message("3 epochs left") == "3 epochs left", "plain words stay"


def test_an_unknown_option_is_named_as_clojure_wrote_it():
    with pytest.raises(OptionError, match="train! has no option :bogus-option") as caught:
        check_options("train!", {"bogus_option": 1, "epochs": 2}, train_options(),
                      door=("test",))
    assert caught.value.clojure_data[Keyword("option")] == Keyword("bogus-option")
    assert Keyword("test") in caught.value.clojure_data[Keyword("options")]
    check_options("train!", {"epochs": 2, "drop_last": True}, train_options())


def test_messages_give_their_stream_layer_and_item():
    data = named_parts("stream :x item 3 has 5 values; the input layer :x takes 4", "data")
    assert data == {Keyword("cortex.bridge/error"): Keyword("data"),
                    Keyword("stream"): Keyword("x"), Keyword("layer"): Keyword("x"),
                    Keyword("item"): 3}
    assert named_parts("the dataset is empty", "data") == {
        Keyword("cortex.bridge/error"): Keyword("data")}
