"""The Clojure constructors of cortex.nn.layers are checked against the layer registry:
every call form a built-in LayerSpec declares has a var there, and each of its example
calls gives the same maps in Python (the model-file reader) and in Clojure. Types
registered in Python reach Clojure through ``(cortex.nn.layers/layer :name …)``."""

from __future__ import annotations

import os
import subprocess

import pytest
from torch import nn

import bridge
from bridge import jvm
from bridge.description.constructors import CONSTRUCTORS
from bridge.description.normalize import flatten_description
from bridge.edn import loads
from bridge.edn.types import Keyword
from bridge.jvm import classpath
from bridge.layers.registry import LAYER_TYPES, unregister


def builtin_forms():
    """(name, form) of every call form of a built-in (bridge.layers) layer type."""
    builtin = {name for name, spec in LAYER_TYPES.items()
               if spec.infer_shape.__module__.startswith("bridge.layers.")}
    return sorted((name, form) for name, form in CONSTRUCTORS.items()
                  if form.layer_type in builtin)


def canonical(value):
    """Keyword keys and values as plain names, maps and sequences compared by value."""
    if isinstance(value, dict):
        return {canonical(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, Keyword):
        return value.full
    return value


def python_nodes(example: str) -> list[dict]:
    return [canonical(raw.node) for raw in flatten_description(loads(example))]


def clojure_nodes(code: str) -> list[dict]:
    text = jvm.eval(f"(pr-str (vec (flatten (vector {code}))))")
    # flatten_description tidies exactly as it does the Python side's maps
    return [canonical(raw.node) for raw in flatten_description(loads(text))]


def qualified(example: str) -> str:
    """``(linear 3)`` -> ``(cortex.nn.layers/linear 3)``."""
    return "(cortex.nn.layers/" + example.lstrip()[1:]


def test_the_registry_declares_forms_with_examples():
    forms = builtin_forms()
    assert {"linear", "dense", "linear->relu", "local-response-normalization",
            "convolutional-type-layer", "multiplicative-dropout"} <= {n for n, _ in forms}
    for name, form in forms:
        assert form.call_examples(), f"({name} …) has no example"
        for example in form.call_examples():
            assert loads(example)[0].name == name, example


def test_every_registry_call_form_has_a_clojure_var(clojure):
    jvm.require("cortex.nn.layers")
    missing = [name for name, form in builtin_forms() if not form.python_only
               and not jvm.eval(f"(boolean (ns-resolve 'cortex.nn.layers '{name}))")]
    assert missing == []


def test_each_example_gives_the_same_maps_in_python_and_clojure(clojure):
    jvm.require("cortex.nn.layers")
    checked, differ = 0, []
    for _name, form in builtin_forms():
        if form.python_only:
            continue
        for example in form.call_examples():
            python, clojure = python_nodes(example), clojure_nodes(qualified(example))
            if python != clojure:
                differ.append(f"{example}\n  python:  {python}\n  clojure: {clojure}")
            checked += 1
    assert differ == []
    assert checked >= 30


def test_a_type_registered_in_python_is_callable_from_clojure(clojure):
    jvm.require("cortex.nn.layers")
    bridge.register_layer("gelu", lambda ctx: nn.GELU(), linear_composite=True,
                          defaults={"approximate": Keyword("none")})
    try:
        for example in ("(gelu)", "(gelu :id :g)", "(linear->gelu 3)",
                        "(linear->gelu 3 :id :g :l2-regularization 0.01)"):
            name, rest = example[1:].partition(" ")[::2]
            call = f"(cortex.nn.layers/layer :{name.rstrip(')')} {rest.rstrip(')')})"
            assert clojure_nodes(call) == python_nodes(example), example
        assert python_nodes("(gelu)") == [{"type": "gelu", "approximate": "none"}]
        interned = jvm.eval("(pr-str (cortex.nn.layers/intern-registered!))")
        assert list(loads(interned)) == ["gelu", "linear->gelu"]  # built-in vars stay as they are
        assert clojure_nodes("(cortex.nn.layers/linear->gelu 3 :id :g)") == \
            python_nodes("(linear->gelu 3 :id :g)")
        assert clojure_nodes("(cortex.nn.layers/gelu)") == python_nodes("(gelu)")
    finally:
        unregister("gelu")
        jvm.eval("(doseq [s '[gelu linear->gelu]] (ns-unmap 'cortex.nn.layers s))")
    with pytest.raises(bridge.ClojureError, match="no call form"):
        jvm.eval("(cortex.nn.layers/layer :gelu)")


def test_a_user_form_with_positional_arguments_is_the_same_from_clojure(clojure):
    from bridge.description.constructors import CallForm

    def scaled(form, args, kvs):
        return [{"type": form.layer_type, "factor": args[0], **form.defaults, **kvs}]

    jvm.require("cortex.nn.layers")
    bridge.register_layer("test.forms/scaled", lambda ctx: nn.Identity(),
                          defaults={"bias?": False}, optional=("factor", "bias?"),
                          call_forms=[CallForm("scaled", scaled, examples=("(scaled 3)",))])
    try:
        expected = [{"type": "test.forms/scaled", "factor": 3, "bias?": False, "id": "s"}]
        assert python_nodes("(scaled 3 :id :s)") == expected
        assert clojure_nodes("(cortex.nn.layers/layer :test.forms/scaled 3 :id :s)") == expected
        assert clojure_nodes("(cortex.nn.layers/layer :scaled 3 :id :s)") == expected
    finally:
        unregister("test.forms/scaled")


def test_the_door_works_in_a_plain_jvm_without_python():
    cp = os.pathsep.join([str(classpath.project_sources()), *classpath.clojure_classpath()])
    code = ("(require 'cortex.nn.layers) "
            "(prn (cortex.nn.layers/layer :my.ns/gated :size 4)) "
            "(prn (try (cortex.nn.layers/layer :linear->gelu 3) "
            "(catch clojure.lang.ExceptionInfo e (ex-message e))))")
    result = subprocess.run(["java", "-cp", cp, "clojure.main", "-e", code],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = result.stdout.strip().splitlines()
    assert first == "[{:type :my.ns/gated, :size 4}]"
    assert "only inside Python" in second
