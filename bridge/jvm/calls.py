"""Everything Clojure may call in Python, listed in :data:`ENTRY_POINTS`.

Entry points take and return only EDN text, strings, numbers, primitive arrays and
direct buffers — never Python objects. Networks and data sets cross as integer handles
into a table this module owns. Every entry point is wrapped so that a Python exception
reaches Clojure as ``ex-info`` carrying ``{:python/type … :python/message …
:python/traceback …}``.

Bulk numbers cross once: a data set arrives as direct native-order buffers that numpy
views without copying (the Clojure side filled them in one bulk copy each), and
parameters leave as Java primitive arrays filled in one bulk copy.
"""

from __future__ import annotations

import functools
import itertools
import threading
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bridge.errors import DataError, Interrupted, ModelError, NetworkBusy, OptionError
from bridge.jvm.guard import JavaFlag, exclusive, forget
from bridge.jvm.options import check_options, clojure_message, named_parts, train_options

__all__ = ["ENTRY_POINTS", "install", "handle_count"]

_handles: dict[int, Any] = {}
_keep_alive: dict[int, Any] = {}  # Java buffers a data set's tensors view
_counter = itertools.count(1)
_lock = threading.Lock()


def _store(value, keep=None) -> int:
    with _lock:
        handle = next(_counter)
        _handles[handle] = value
        if keep is not None:
            _keep_alive[handle] = keep
    return handle


def _get(handle) -> Any:
    try:
        return _handles[int(handle)]
    except KeyError:
        raise ValueError(f"no object with handle {int(handle)} (released?)") from None


def handle_count() -> int:
    return len(_handles)


def _edn(value) -> str:
    from bridge.edn import dumps

    return dumps(value)


def _read(text) -> Any:
    from bridge.edn import loads
    from bridge.edn.tensor_tag import tensor_readers

    return loads(str(text), readers=tensor_readers())


def _kw(name: str):
    from bridge.edn.types import Keyword

    return Keyword(name)


def _plain(value):
    from bridge.edn.types import Keyword, key_name

    if isinstance(value, dict):
        return {key_name(k) if isinstance(k, Keyword) else k: _plain(v)
                for k, v in value.items()}
    if isinstance(value, Keyword):
        return value.full
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --- entry points ------------------------------------------------------------------------


def load_model(source, seed) -> int:
    """A model from a path or EDN text; ``seed`` < 0 means none."""
    from bridge.saving.load import load_model

    seed = None if int(seed) < 0 else int(seed)
    return _store(load_model(str(source), seed=seed))


def import_network(path, seed) -> int:
    """A network imported from a Cortex .nippy or an ONNX file; ``seed`` < 0 means none."""
    from bridge.importers import import_network as load

    return _store(load(str(path), seed=None if int(seed) < 0 else int(seed)))


def describe(handle) -> str:
    net = _get(handle)
    layers = [{_kw("id"): _kw(layer.id), _kw("type"): _kw(layer.type),
               _kw("output-shape"): list(layer.output_shape),
               _kw("parameter-count"): layer.parameter_count} for layer in net.layers]
    return _edn({_kw("layers"): layers, _kw("inputs"): [_kw(i) for i in net.input_ids],
                 _kw("outputs"): [_kw(o) for o in net.output_ids],
                 _kw("input-sizes"): {_kw(k): v for k, v in net.input_sizes.items()},
                 _kw("output-sizes"): {_kw(k): v for k, v in net.output_sizes.items()},
                 _kw("parameter-count"): net.parameter_count})


def summary(handle) -> str:
    return _get(handle).summary()


def dataset_from_buffers(spec_text, buffers) -> int:
    """A data set from direct buffers: ``spec`` is EDN ``{:count n :streams [{:name "data"
    :width 784 :dtype :float32} …]}``, ``buffers`` the matching direct buffers."""
    from bridge.training.data import Streams

    spec = _plain(_read(spec_text))
    count = int(spec["count"])
    columns, keep = {}, []
    for stream, buffer in zip(spec["streams"], buffers, strict=True):
        dtype = {"float32": np.float32, "int64": np.int64}[stream.get("dtype", "float32")]
        array = np.asarray(buffer)  # a zero-copy view of the direct buffer
        if array.dtype != dtype:
            array = array.view(dtype)
        width = int(stream["width"])
        shape = (count, width) if width != 1 or stream.get("vector", False) else (count,)
        columns[stream["name"]] = torch.from_numpy(array[: count * width].reshape(shape))
        keep.append(buffer)
    return _store(Streams(columns), keep=keep)


def mnist(directory, split) -> int:
    from bridge import datasets

    return _store(datasets.mnist(str(directory) if directory is not None else None, str(split)))


def digits(split) -> int:
    from bridge import datasets

    return _store(datasets.digits(str(split)))


def dataset_count(handle) -> int:
    return len(_get(handle))


def dataset_streams(handle) -> str:
    streams = _get(handle)
    return _edn({_kw(name): list(column.shape) for name, column in streams.columns.items()})


def dataset_columns(handle):
    """A data set's columns for Clojure: EDN ``[{:name :shape :dtype :classes} …]`` then
    one Java array per column (float[] for floats, long[] for integers), each filled in
    one bulk copy. ``:classes`` (integer columns): the largest value + 1."""
    import jpype

    streams = _get(handle)
    specs, arrays = [], []
    for name, column in streams.columns.items():
        values = column.detach().to("cpu").contiguous()
        spec = {_kw("name"): name, _kw("shape"): list(values.shape)}
        if values.dtype.is_floating_point:
            flat = values.to(torch.float32).reshape(-1).numpy()
            spec[_kw("dtype")] = _kw("float32")
            arrays.append(jpype.JArray(jpype.JFloat)(flat))
        else:
            flat = values.to(torch.int64).reshape(-1).numpy()
            spec[_kw("dtype")] = _kw("int64")
            spec[_kw("classes")] = int(flat.max()) + 1 if flat.size else 0
            arrays.append(jpype.JArray(jpype.JLong)(flat))
        specs.append(spec)
    return jpype.JArray(jpype.JObject)([jpype.JString(_edn(specs)), *arrays])


def _rename(streams, mapping: dict):
    return streams.renamed(mapping) if mapping else streams


def _options(options_text) -> dict:
    return _plain(_read(options_text) or {})


def _say(flag: JavaFlag, log_fn) -> Callable[[str], None]:
    """Progress lines to the Clojure function ``log_fn`` (nil: none), on the calling
    thread (its ``*out*`` is the caller's); none once the call is cancelled, so an
    interrupted nREPL eval receives nothing after its ``interrupted`` status."""
    if log_fn is None:
        return lambda text: None

    def say(text: str) -> None:
        import jpype

        if not flag.is_set():
            log_fn.invoke(jpype.JString(text))

    return say


def _history_edn(history) -> list:
    return [{_kw(k): v for k, v in entry.items()} for entry in history or ()]


def _epoch_callback(flag: JavaFlag, epoch_fn):
    """A Clojure function of each epoch's entry (as EDN text; the Clojure side reads it)
    as a :class:`bridge.Callback`; a truthy ``:stop`` answer ends the run after that
    epoch. Called on the training thread, so the function sees the caller's bindings."""
    from bridge.training.callbacks import Callback

    class ClojureEpochFunction(Callback):
        def on_epoch_end(self, run, entry):
            import jpype

            if flag.is_set():
                return
            answer = epoch_fn.invoke(jpype.JString(_edn({_kw(k): v for k, v in entry.items()})))
            if answer is not None and str(answer) == ":stop":
                run.stop = "stopped by the :on-epoch function"

    return ClojureEpochFunction()


def train(handle, data_handle, test_handle, options_text, flag=None, log_fn=None,
          epoch_fn=None) -> str:
    """Train; returns ``{:history [...] :best-epoch n}`` as EDN (``:best-epoch``: the
    epoch whose network was kept, or nil). Options: ``:epochs :batch-size :optimizer
    :seed :streams {dataset-name layer-id} :wait …`` (any keyword argument of
    bridge.train). ``flag``: a Java AtomicBoolean; set, the run stops after the current
    step. ``log_fn``: a Clojure function receiving the epoch lines (nil: silent).
    ``epoch_fn``: a Clojure function of each epoch's entry (``:on-epoch``)."""
    from bridge.training.trainer import train as train_network

    options = _options(options_text)
    mapping = options.pop("streams", None) or {}
    wait = bool(options.pop("wait", False))
    options.pop("log", None)
    cancel = JavaFlag(flag)
    data = _rename(_get(data_handle), mapping)
    test = _rename(_get(test_handle), mapping) if int(test_handle) > 0 else None
    validation_handle = options.pop("validation-handle", None)
    kwargs = {k.replace("-", "_"): v for k, v in options.items()}
    check_options("train!", kwargs, train_options(),
                  door=("test", "validation", "log", "on-epoch", "streams", "wait"))
    if validation_handle is not None and int(validation_handle) > 0:
        kwargs["validation"] = _rename(_get(validation_handle), mapping)
    if epoch_fn is not None:
        kwargs["callbacks"] = [_epoch_callback(cancel, epoch_fn)]
    with exclusive(handle, cancel=cancel, wait=wait, what="train!"):
        history = train_network(_get(handle), data, test=test, log=_say(cancel, log_fn),
                               cancel=cancel, **kwargs)
    # The network of the best epoch is kept only with validation data and keep_best.
    return _edn({_kw("history"): _history_edn(history), _kw("best-epoch"): history.kept_epoch})


def evaluate(handle, data_handle, options_text, flag=None) -> str:
    from bridge.training.evaluation import evaluate as evaluate_network

    options = _options(options_text)
    check_options("evaluate", {k.replace("-", "_"): v for k, v in options.items()},
                   ["batch_size", "streams", "wait"])
    cancel = JavaFlag(flag)
    data = _rename(_get(data_handle), options.get("streams") or {})
    kwargs = {"batch_size": int(options["batch-size"])} if "batch-size" in options else {}
    with exclusive(handle, cancel=cancel, wait=bool(options.get("wait")), what="evaluate"):
        result = evaluate_network(_get(handle), data, cancel=cancel, **kwargs)
    return _edn({_kw(k): v for k, v in result.items() if k != "outputs"})


def predict(handle, data_handle, options_text, flag=None):
    """Outputs for every sample: EDN ``{leaf [n size]}`` and one float[] per leaf."""
    import jpype

    from bridge.training.evaluation import predict as predict_outputs

    options = _options(options_text)
    check_options("run", {k.replace("-", "_"): v for k, v in options.items()},
                   ["batch_size", "streams", "wait"])
    cancel = JavaFlag(flag)
    net = _get(handle)
    data = _rename(_get(data_handle), options.get("streams") or {})
    kwargs = {"batch_size": int(options["batch-size"])} if "batch-size" in options else {}
    with exclusive(handle, cancel=cancel, wait=bool(options.get("wait")), what="run"):
        outputs = predict_outputs(net, data, cancel=cancel, **kwargs)
    if isinstance(outputs, torch.Tensor):
        outputs = {net.output_ids[0]: outputs}
    shapes = {_kw(k): list(v.shape) for k, v in outputs.items()}
    arrays = [jpype.JArray(jpype.JFloat)(v.detach().to("cpu", torch.float32).contiguous()
                                         .reshape(-1).numpy()) for v in outputs.values()]
    return jpype.JArray(jpype.JObject)([jpype.JString(_edn(shapes)), *arrays])


def clone(handle) -> int:
    """A copy of the network (parameters, buffers, description) under a new handle,
    through its saved form: the copy is what loading the saved network gives."""
    from bridge.saving.load import load_model
    from bridge.saving.save import network_to_edn

    with exclusive(handle, what="clone"):
        text = network_to_edn(_get(handle), encoding="tensor")
    return _store(load_model(text))


def _edits() -> dict[str, Callable]:
    """Cortex's network-editing names -> :mod:`bridge.edit`, each taking the network and
    the EDN arguments as a map with str keys."""
    from bridge import edit

    def flags(given):
        return {"reinitialize": bool(given.get("reinitialize")), "seed": given.get("seed")}

    return {
        "dissoc-layers-from-network": lambda net, given: edit.dissoc_layers_from_network(
            net, _name(given["layer-id"]), seed=given.get("seed")),
        "assoc-layers-to-network": lambda net, given: edit.assoc_layers_to_network(
            net, given["layers"], seed=given.get("seed")),
        "resize-input": lambda net, given: edit.resize_input(
            net, int(given["width"]), int(given["height"]), int(given["channels"]),
            input_id=_optional_name(given.get("input-id")), **flags(given)),
        "add-property-to-layer": lambda net, given: edit.add_property_to_layer(
            net, _name(given["layer-id"]), _name(given["key"]), given.get("value"),
            **flags(given)),
        "freeze-layers": lambda net, given: edit.freeze_layers(
            net, None if given.get("layer-ids") is None
            else [_name(i) for i in given["layer-ids"]]),
    }


def edit_network(handle, operation, arguments_text) -> int:
    """Cortex's network editing on a network: a new network under a new handle, the
    argument unchanged. ``operation`` is the Clojure name (``dissoc-layers-from-network``
    …); ``arguments_text`` is EDN ``{:layer-id … :layers […] :width … :key … :value …
    :layer-ids […] :input-id … :reinitialize … :seed …}``."""
    from bridge.edn.types import key_name

    edits = _edits()
    if str(operation) not in edits:
        raise ValueError(f"unknown network edit {operation}; known: {' '.join(edits)}")
    given = {key_name(k): v for k, v in (_read(arguments_text) or {}).items()}
    with exclusive(handle, what=str(operation)):
        return _store(edits[str(operation)](_get(handle), given))


def _name(value: Any) -> str:
    """A layer id or key given in EDN (a keyword or a string) as a plain str; nil as
    ``"None"``, which :mod:`bridge.edit` makes of it anyway (and names as unknown)."""
    from bridge.edn.types import key_name

    return key_name(value)


def _optional_name(value: Any) -> str | None:
    return None if value is None else _name(value)


def parameter_index(handle) -> str:
    """EDN ``[[layer-id name [shape…]] …]`` in description order."""
    with exclusive(handle, what="weights"):
        net = _get(handle)
        rows = [[_kw(layer), _kw(name), list(tensor.shape)]
                for layer, params in net.parameters_by_layer().items()
                for name, tensor in params.items()]
    return _edn(rows)


def parameter_array(handle, layer, name):
    """One parameter as a Java float[] (C order), filled in one bulk copy."""
    import jpype

    with exclusive(handle, what="weights"):
        tensor = _get(handle).parameters_by_layer()[str(layer)][str(name)]
        flat = tensor.detach().to("cpu", torch.float32).contiguous().reshape(-1).numpy()
        return jpype.JArray(jpype.JFloat)(flat)  # copied while no step can change it


def save(handle, path, encoding) -> str:
    from bridge.saving.save import save_network

    with exclusive(handle, what="save!"):
        save_network(_get(handle), str(path), encoding=str(encoding))
    return str(path)


def network_edn(handle, encoding) -> str:
    from bridge.saving.save import network_to_edn

    with exclusive(handle, what="network-edn"):
        return network_to_edn(_get(handle), encoding=str(encoding))


def release(handle) -> bool:
    forget(handle)
    with _lock:
        _keep_alive.pop(int(handle), None)
        return _handles.pop(int(handle), None) is not None


def construct_layer(name, args_text) -> str:
    """The maps of the call form ``(name args…)``, as EDN, from the layer registry
    (``cortex.nn.layers/layer``): a type registered in Python is called the same way
    from Clojure as in a model file."""
    from bridge.description.constructors import CONSTRUCTORS, lookup, split_args

    name = str(name)
    form = lookup(name) or lookup(name.rpartition("/")[2])
    if form is None:
        raise ValueError(f"no call form ({name} …) is registered; known: "
                         + " ".join(sorted(CONSTRUCTORS)))
    args, kvs = split_args(form.name, list(_read(args_text)))
    nodes = form.call(args, kvs)
    return _edn([{_kw(k): (_kw(v) if k == "type" and isinstance(v, str) else v)
                  for k, v in node.items()} for node in nodes])


def call_forms() -> str:
    """The names of every registered call form, as an EDN vector of strings (for
    ``cortex.nn.layers/intern-registered!``); namespaced names are left out (Clojure
    calls ``(my.ns/gated)`` by its short name), and so are Python-only ones (``dense``)."""
    from bridge.description.constructors import CONSTRUCTORS

    return _edn(sorted(name for name, form in CONSTRUCTORS.items()
                       if form.layer_type is not None and "/" not in name
                       and not form.python_only))


def echo(value):
    """Returns its argument (for measuring the cost of one call)."""
    return value


def raise_error(message):
    """Raises a ValueError (for testing how failures cross)."""
    raise ValueError(str(message))


ENTRY_POINTS: dict[str, Callable] = {
    "load-model": load_model,
    "import-network": import_network,
    "describe": describe,
    "summary": summary,
    "dataset-from-buffers": dataset_from_buffers,
    "mnist": mnist,
    "digits": digits,
    "dataset-count": dataset_count,
    "dataset-streams": dataset_streams,
    "dataset-columns": dataset_columns,
    "train": train,
    "evaluate": evaluate,
    "predict": predict,
    "clone": clone,
    "edit-network": edit_network,
    "parameter-index": parameter_index,
    "parameter-array": parameter_array,
    "save": save,
    "network-edn": network_edn,
    "release": release,
    "construct-layer": construct_layer,
    "call-forms": call_forms,
    "echo": echo,
    "raise-error": raise_error,
}


# --- printing and exceptions ---------------------------------------------------------------


def _door_data(error: BaseException) -> dict:
    """``:cortex.bridge/error`` and its details for the failures Clojure code handles."""
    if isinstance(error, OptionError):
        return error.clojure_data
    if isinstance(error, DataError | ModelError):
        return named_parts(str(error), "data" if isinstance(error, DataError) else "model")
    if isinstance(error, NetworkBusy):
        return {_kw("cortex.bridge/error"): _kw("busy")}
    if isinstance(error, Interrupted):
        return {_kw("cortex.bridge/error"): _kw("interrupted"),
                _kw("history"): _history_edn(error.history),
                _kw("checkpoint"): error.checkpoint}
    return {}


def _ex_info(error: BaseException):
    import jpype

    from bridge.jvm.runtime import var

    message = clojure_message(str(error))
    data = {_kw("python/type"): type(error).__name__,
            _kw("python/message"): message,
            _kw("python/traceback"): "".join(traceback.format_exception(error))}
    data.update(_door_data(error))
    read = var("clojure.edn", "read-string")
    # The door's own failures speak for themselves; Python's say which exception it was.
    door = isinstance(error, OptionError | NetworkBusy | Interrupted)
    text = message if door else f"{type(error).__name__}: {message}"
    return jpype.JClass("clojure.lang.ExceptionInfo")(
        jpype.JString(text), read.invoke(jpype.JString(_edn(data))))


def _wrap(name: str, function: Callable):
    import jpype

    @functools.wraps(function)
    def call(*args):
        try:
            return function(*args)
        except jpype.JException:
            raise
        except (Exception, Interrupted) as error:  # noqa: BLE001 - every failure crosses
            raise _ex_info(error) from None

    @jpype.JImplements("clojure.lang.IFn")
    class EntryPoint:
        @jpype.JOverride
        def invoke(self, *args):
            return call(*args)

        @jpype.JOverride
        def applyTo(self, arglist):
            values = []
            while arglist is not None:
                values.append(arglist.first())
                arglist = arglist.next()
            return call(*values)

        @jpype.JOverride
        def call(self):
            return call()

        @jpype.JOverride
        def run(self):
            call()

        def __repr__(self):
            return f"<python entry point {name}>"

    return EntryPoint()


_installed = False


def install() -> None:
    """Hand every entry point to ``cortex.bridge.python`` (once)."""
    global _installed
    if _installed:
        return
    import jpype

    from bridge.jvm.runtime import var

    table = jpype.JClass("java.util.HashMap")()
    for name, function in ENTRY_POINTS.items():
        table.put(jpype.JString(name), _wrap(name, function))
    var("cortex.bridge.python", "install!").invoke(table)
    _installed = True
