"""Training data in every shape users bring it, turned into named tensors once.

Accepted by :func:`to_streams`:

- Cortex's sequence of maps, ``[{"data": [...], "labels": [...]}, …]``, keys as str
  (``"data"`` or ``":data"``) or :class:`~bridge.edn.Keyword`. Stream names are layer
  ids: inputs are named by their input layer, labels by the leaf they train
  (cortex-spec §2.1, §3.1);
- a mapping of whole columns, ``{"data": X, "labels": y}``;
- a pair ``(X, y)`` for a network with one input and one output;
- a :class:`Streams` (what :mod:`bridge.datasets` returns);
- a torch ``Dataset`` of ``(x, y)`` pairs or of maps, or a ``DataLoader`` over one
  (read once, in its own order; its batch size does not matter).

Everything is stacked into one tensor per stream before training starts, so an epoch is
one permutation and one ``index_select`` per stream and batch: no per-sample Python in
the loop. Labels for a softmax leaf may be class indices or one-hot (or soft) vectors;
Cortex used one-hot vectors.

:func:`validate_streams` checks the data against the network before any work and names
the stream and the first offending item: an empty data set, a stream no layer reads, a
missing stream, a width that does not fit its layer, NaN or infinity in an input (or in
labels, except for censor-loss, where NaN means "no label"), a class index outside the
classes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bridge.edn.types import Keyword
from bridge.errors import DataError

__all__ = ["Streams", "LabelSpec", "to_streams", "validate_streams", "batches",
           "epoch_order", "place", "stream_name", "one_hot", "label_specs",
           "conventional_streams", "split_off"]

# Data sets up to this fraction of the free device memory are moved to the device once;
# larger ones stay in host memory and travel batch by batch through pinned buffers.
DEVICE_RESIDENT_FRACTION = 0.25


def stream_name(key: Any) -> str:
    """``"data"``, ``":data"`` and ``Keyword("data")`` all name the stream ``data``."""
    if isinstance(key, Keyword):
        return key.full
    if isinstance(key, str):
        return key.lstrip(":")
    raise DataError(f"stream names are strings or keywords; got {key!r}")


def one_hot(labels: Any, classes: int) -> torch.Tensor:
    """Class indices ``[N]`` → Cortex's one-hot label vectors ``[N, classes]`` (float32).

    Raises:
        DataError: an index outside ``0 … classes − 1``, naming the first one.
    """
    indices = torch.as_tensor(labels).reshape(-1).long()
    bad = (indices < 0) | (indices >= classes)
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0])
        raise DataError(f"label {first} is class {int(indices[first])}; classes are 0 to "
                        f"{classes - 1}")
    return torch.nn.functional.one_hot(indices, classes).to(torch.float32)


class Streams:
    """Named tensors with one row per sample: a whole data set in Cortex's stream
    convention.

    ``streams["data"]`` is a column, ``streams[0]`` the first sample as a map (as in
    Cortex's sequence of maps), ``streams[10:20]`` a slice, ``len(streams)`` the sample
    count. ``classes`` records the class count when known.
    """

    def __init__(self, columns: Mapping[Any, Any] | None = None, *,
                 classes: int | None = None):
        self.columns: dict[str, torch.Tensor] = {}
        for key, value in (columns or {}).items():
            name = stream_name(key)
            self.columns[name] = _as_tensor(value, name)
        lengths = {name: len(t) for name, t in self.columns.items()}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f":{k} {v}" for k, v in lengths.items())
            raise DataError(f"streams have different lengths: {detail}")
        self.classes = classes

    @classmethod
    def _of(cls, columns: dict[str, torch.Tensor], classes: int | None) -> Streams:
        """Wrap ready tensors without converting or checking them again."""
        made = cls(classes=classes)
        made.columns = columns
        return made

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def renamed(self, mapping: Mapping[str, str]) -> Streams:
        """The same columns (not copied) with the names in ``mapping`` replaced."""
        return Streams._of({mapping.get(k, k): v for k, v in self.columns.items()},
                           self.classes)

    def __getitem__(self, index):
        if isinstance(index, str | Keyword):
            return self.columns[stream_name(index)]
        if isinstance(index, int):
            return {name: column[index] for name, column in self.columns.items()}
        return Streams._of({name: column[index] for name, column in self.columns.items()},
                           self.classes)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for index in range(len(self)):
            yield self[index]

    def keys(self):
        return self.columns.keys()

    def items(self):
        return self.columns.items()

    @property
    def nbytes(self) -> int:
        return sum(c.numel() * c.element_size() for c in self.columns.values())

    def to(self, device, *, non_blocking: bool = False) -> Streams:
        """The same streams on ``device``; from host to CUDA through pinned memory."""
        device = torch.device(device)
        moved = {}
        for name, column in self.columns.items():
            if column.device == device:
                moved[name] = column
            elif device.type == "cuda" and column.device.type == "cpu":
                moved[name] = column.pin_memory().to(device, non_blocking=True)
            else:
                moved[name] = column.to(device, non_blocking=non_blocking)
        return Streams._of(moved, self.classes)

    def __repr__(self) -> str:
        shapes = ", ".join(f":{k} {list(v.shape)}" for k, v in self.columns.items())
        return f"Streams({len(self)} samples; {shapes})"


def _as_tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise DataError(f"stream :{name} is not an array of numbers: {error}") from None
    if array.dtype == object:
        raise DataError(f"stream :{name} holds items of different sizes or non-numbers")
    if array.dtype.kind in "USV":
        raise DataError(f"stream :{name} holds strings where numbers belong")
    if array.dtype.kind == "f":
        array = array.astype(np.float32, copy=False)
    elif array.dtype.kind == "b":
        array = array.astype(np.float32)
    elif array.dtype.kind in "ui" and array.dtype != np.uint8:
        array = array.astype(np.int64, copy=False)
    return torch.from_numpy(np.ascontiguousarray(array))


# --- every accepted form → Streams --------------------------------------------------------


def to_streams(data: Any, net) -> Streams:
    """Turn any accepted form of data into :class:`Streams` named for ``net``.

    Raises:
        DataError: a form that is not data, an empty data set, or items that disagree.
    """
    if isinstance(data, Streams):
        return data
    if data is None:
        raise DataError("no data given")
    if isinstance(data, Mapping):
        return Streams(data)
    if isinstance(data, torch.utils.data.DataLoader):
        return _from_batches(iter(data), net, "DataLoader")
    if _is_pair(data):
        return Streams({_single(net.input_ids, "input"): data[0],
                        _single(net.output_ids, "output"): data[1]})
    if isinstance(data, torch.Tensor | np.ndarray):
        return Streams({_single(net.input_ids, "input"): data})
    if isinstance(data, torch.utils.data.Dataset):
        if len(data) == 0:  # type: ignore[arg-type]  # torch's Dataset types no __len__
            raise DataError("the dataset is empty")
        # The default collate function stacks items in C; 1024 at a time, once.
        loader = torch.utils.data.DataLoader(data, batch_size=1024, shuffle=False)
        return _from_batches(iter(loader), net, "Dataset")
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        if len(data) == 0:
            raise DataError("the dataset is empty")
        return _stack_maps(data)
    raise DataError(f"cannot train on a {type(data).__name__}; give a sequence of maps, "
                    "(X, y), a map of streams, a Dataset or a DataLoader")


def _is_pair(data: Any) -> bool:
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], Mapping):
        return True
    return (isinstance(data, list) and len(data) == 2
            and all(isinstance(d, torch.Tensor | np.ndarray) for d in data))


def _single(ids: Sequence[str], what: str) -> str:
    if len(ids) != 1:
        raise DataError(f"(X, y) pairs need a network with one input and one output; this "
                        f"one has {what}s " + " ".join(f":{i}" for i in ids)
                        + "; pass a map of streams named by layer ids instead")
    return ids[0]


def _stack_maps(items: Sequence) -> Streams:
    if not isinstance(items[0], Mapping):
        raise DataError(f"dataset item 0 is a {type(items[0]).__name__}, not a map of streams")
    names = [stream_name(k) for k in items[0]]
    columns: dict[str, list] = {name: [] for name in names}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise DataError(f"dataset item {index} is a {type(item).__name__}, not a map of "
                            "streams")
        keyed = {stream_name(k): v for k, v in item.items()}
        if keyed.keys() != columns.keys():
            missing = sorted(set(names) - set(keyed))
            extra = sorted(set(keyed) - set(names))
            raise DataError(f"dataset item {index} has different streams from item 0"
                            + ("; missing " + " ".join(":" + m for m in missing) if missing
                               else "")
                            + ("; extra " + " ".join(":" + e for e in extra) if extra else ""))
        for name in names:
            columns[name].append(keyed[name])
    return Streams({name: _stack_column(values, name) for name, values in columns.items()})


def _stack_column(values: list, name: str) -> torch.Tensor:
    sizes = [v.numel() if isinstance(v, torch.Tensor) else int(np.size(v)) for v in values]
    for index, size in enumerate(sizes):
        if size != sizes[0]:
            raise DataError(f"stream :{name} item {index} has {size} values; item 0 has "
                            f"{sizes[0]}")
    if isinstance(values[0], torch.Tensor):
        return torch.stack([torch.as_tensor(v).reshape(-1) for v in values])
    try:
        array = np.asarray([np.asarray(v).reshape(-1) for v in values])
    except (ValueError, TypeError) as error:
        raise DataError(f"stream :{name} is not an array of numbers: {error}") from None
    if sizes[0] == 1 and all(np.ndim(v) == 0 for v in values[:1]):
        array = array.reshape(-1)  # scalars (class indices) stay a vector
    return _as_tensor(array, name)


def _from_batches(batches_: Iterator, net, what: str) -> Streams:
    parts: dict[str, list[torch.Tensor]] = {}
    for batch in batches_:
        if isinstance(batch, Mapping):
            for key, value in batch.items():
                parts.setdefault(stream_name(key), []).append(torch.as_tensor(value))
        elif isinstance(batch, Sequence) and len(batch) == 2:
            parts.setdefault(_single(net.input_ids, "input"), []).append(
                torch.as_tensor(batch[0]))
            parts.setdefault(_single(net.output_ids, "output"), []).append(
                torch.as_tensor(batch[1]))
        else:
            raise DataError(f"a {what} must give maps of streams or (x, y) pairs; got a "
                            f"{type(batch).__name__}")
    if not parts:
        raise DataError(f"the {what} yielded no data; the dataset is empty")
    return Streams({k: torch.cat(v) for k, v in parts.items()})


# --- validation --------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelSpec:
    """What one label stream must hold.

    Attributes:
        stream: the stream's name.
        layer: the layer whose output it labels.
        size: values per sample the layer produces.
        classes: a softmax's class count when class indices are accepted, else ``None``.
        nan_ok: NaN marks a missing label (censor-loss).
    """

    stream: str
    layer: str
    size: int
    classes: int | None = None
    nan_ok: bool = False


def label_specs(net) -> dict[str, LabelSpec]:
    """Cortex's default label streams: one per leaf, named like it (cortex-spec §2.1)."""
    by_id = {layer.id: layer for layer in net.layers}
    return {leaf: LabelSpec(leaf, leaf, net.output_sizes[leaf],
                            net.output_sizes[leaf] if by_id[leaf].type == "softmax" else None)
            for leaf in net.output_ids}


#: What Cortex's data sets (and :mod:`bridge.datasets`) call their streams.
CONVENTIONAL_INPUT, CONVENTIONAL_LABELS = "data", ("labels", "label")


def conventional_streams(streams: Streams, net,
                         specs: Mapping[str, LabelSpec] | None = None) -> Streams:
    """The one rule that maps conventionally named data onto a network: Cortex's data
    sets call their streams ``data`` and ``labels`` (or ``label``); a network with one
    input and one label stream gets them under its own names when no layer is called
    that (``mnist-mlp.edn``'s ``:input-1`` and ``:softmax-1`` train on
    ``bridge.datasets.mnist``). Streams already named for the network, and networks
    with several inputs or outputs, are left as they are. Serves Python, the command
    line and Clojure (through :func:`validate_streams`)."""
    specs = label_specs(net) if specs is None else specs
    if len(net.input_ids) != 1 or len(specs) != 1:
        return streams
    names = set(streams.keys())
    known = set(net.input_ids) | set(net.output_ids) | set(specs)
    mapping: dict[str, str] = {}
    given_input, label_stream = net.input_ids[0], next(iter(specs))
    if CONVENTIONAL_INPUT in names - known and given_input not in names:
        mapping[CONVENTIONAL_INPUT] = given_input
    labels = [n for n in CONVENTIONAL_LABELS if n in names - known]
    if len(labels) == 1 and label_stream not in names:
        mapping[labels[0]] = label_stream
    return streams.renamed(mapping) if mapping else streams


def split_off(streams: Streams, fraction: float, *, seed: int) -> tuple[Streams, Streams]:
    """``(rest, held_out)``: a random ``fraction`` of the samples held out (validation
    data), drawn from ``seed`` alone so the same call always holds out the same ones.

    Raises:
        ValueError: ``fraction`` not strictly between 0 and 1, or leaving either part empty.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) \
            or not 0 < fraction < 1:
        raise ValueError("`validation_split` must be a fraction between 0 and 1 "
                         f"(exclusive). Received: validation_split={fraction!r}")
    count = len(streams)
    held = round(count * fraction)
    if held < 1 or held >= count:
        raise ValueError(f"validation_split={fraction} of {count} samples leaves "
                         f"{'no validation sample' if held < 1 else 'nothing to train on'}")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(int(seed)))
    held_out, rest = order[:held].sort().values, order[held:].sort().values
    return streams[rest], streams[held_out]


def validate_streams(streams: Streams, net, *, labels: bool,
                     specs: Mapping[str, LabelSpec] | None = None) -> Streams:
    """Check ``streams`` against ``net`` before any work and return them ready to use:
    inputs ``[N, size]`` floating point, class-index labels ``int64 [N]``, other labels
    ``[N, size]`` float.

    Args:
        streams: the data.
        net: the network.
        labels: whether label streams are required (training, evaluation) or optional
            (prediction).
        specs: the label streams the losses read (:meth:`Objective.label_specs`); by
            default one per leaf, named like it.

    Raises:
        DataError: an empty data set, a stream no layer reads, a missing stream, a width
            that does not fit its layer, NaN or infinity in an input, a label outside the
            classes — each naming the stream and the first offending item.
    """
    specs = label_specs(net) if specs is None else specs
    if len(streams) == 0:
        raise DataError("the dataset is empty")
    streams = conventional_streams(streams, net, specs)
    known = set(net.input_ids) | set(net.output_ids) | set(specs)
    for name in streams.keys():
        if name not in known:
            raise DataError(
                f"stream :{name} matches no layer; inputs are "
                + " ".join(f":{i}" for i in net.input_ids) + " and outputs are "
                + " ".join(f":{o}" for o in net.output_ids))
    ready: dict[str, torch.Tensor] = {}
    for name in net.input_ids:
        if name not in streams.columns:
            raise DataError(f"the data has no stream :{name} for the input layer :{name}; "
                            "it has " + " ".join(f":{k}" for k in streams.keys()))
        ready[name] = _check_input(streams.columns[name], net.input_sizes[name], name)
    for name, spec in specs.items():
        if name in ready:
            continue
        if name not in streams.columns:
            if labels:
                raise DataError(f"the data has no label stream :{name} for the output layer "
                                f":{spec.layer}")
            continue
        ready[name] = _check_labels(streams.columns[name], spec)
    return Streams._of(ready, streams.classes)


def _check_input(column: torch.Tensor, size: int, name: str) -> torch.Tensor:
    return _float_rows(column, size, f"stream :{name}", f"the input layer :{name} takes")


def _float_rows(column: torch.Tensor, size: int, what: str, layer: str, *,
                nan_ok: bool = False) -> torch.Tensor:
    """``column`` as ``[N, size]`` floats, refusing another width and non-finite values;
    ``what`` and ``layer`` word the errors ("stream :x", "the input layer :x takes")."""
    width = column[0].numel()
    if width != size:
        raise DataError(f"{what} item 0 has {width} values; {layer} {size}")
    column = column.reshape(len(column), size)
    if not column.is_floating_point():
        column = column.float()
    _refuse_non_finite(column, what, nan_ok=nan_ok)
    return column


def _refuse_non_finite(column: torch.Tensor, what: str, *, nan_ok: bool = False) -> None:
    """Raise naming the first item holding NaN or infinity (only infinity with
    ``nan_ok``)."""
    if not column.is_floating_point():
        return
    rows = column.reshape(len(column), -1)
    if nan_ok:
        bad_rows = torch.isinf(rows).any(dim=1)
    else:
        # Row sums are NaN or infinite exactly when a row holds NaN or infinity, or when
        # finite values overflow: a reduction instead of a full boolean copy of the data
        # (30x faster on MNIST); suspects are then checked value by value.
        suspects = (~torch.isfinite(rows.sum(dim=1))).nonzero().flatten()
        if len(suspects) == 0:
            return
        bad_rows = torch.zeros(len(rows), dtype=torch.bool, device=rows.device)
        bad_rows[suspects] = ~torch.isfinite(rows[suspects]).all(dim=1)
    if bool(bad_rows.any()):
        first = int(bad_rows.nonzero()[0, 0])
        raise DataError(f"{what} item {first} contains "
                        + ("infinity" if nan_ok else "NaN or infinity"))


def _check_labels(column: torch.Tensor, spec: LabelSpec) -> torch.Tensor:
    name, size, classes = spec.stream, spec.size, spec.classes
    if classes is not None and (
            column.dim() == 1 or (column.dim() == 2 and column.shape[1] == 1 and size > 1)):
        indices = column.reshape(-1)
        if indices.is_floating_point():
            _refuse_non_finite(indices, f"label stream :{name}")
            whole = indices == indices.round()
            if not bool(whole.all()):
                first = int((~whole).nonzero()[0, 0])
                raise DataError(f"label stream :{name} item {first} is {float(indices[first])}"
                                f"; give class indices or one-hot vectors of {size}")
        indices = indices.long()
        bad = (indices < 0) | (indices >= classes)
        if bool(bad.any()):
            first = int(bad.nonzero()[0, 0])
            raise DataError(f"label stream :{name} item {first} is class {int(indices[first])}"
                            f"; the output layer :{spec.layer} has classes 0 to "
                            f"{classes - 1}")
        return indices
    return _float_rows(column, size, f"label stream :{name}",
                       f"the output layer :{spec.layer} produces", nan_ok=spec.nan_ok)


# --- placement and batches ---------------------------------------------------------------


def place(streams: Streams, device: torch.device) -> Streams:
    """Put the data where batching is cheapest: on the CPU as it is; on CUDA wholly on the
    device when it takes at most :data:`DEVICE_RESIDENT_FRACTION` of the free memory
    (one pinned, non-blocking copy), else left in host memory — pinned by
    :func:`batches` batch by batch."""
    if device.type != "cuda":
        return streams.to(device)
    free, _ = torch.cuda.mem_get_info(device)
    if streams.nbytes <= DEVICE_RESIDENT_FRACTION * free:
        return streams.to(device)
    return streams


def epoch_order(count: int, *, shuffle: bool, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of ``epoch``: a permutation drawn from ``seed + epoch`` (as
    ``DistributedSampler`` draws it), or ``0 … count − 1`` without shuffling.

    A pure function of its arguments, so a resumed run redraws exactly the order the
    interrupted one used.
    """
    if not shuffle:
        return torch.arange(count)
    generator = torch.Generator()
    generator.manual_seed(seed + epoch)
    return torch.randperm(count, generator=generator)


def batches(streams: Streams, order: torch.Tensor, batch_size: int, *,
            device: torch.device | None = None, drop_last: bool = False,
            skip: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of ``streams`` in ``order``, as ``{stream: tensor}`` on ``device``.

    ``skip`` leaves out the first batches (a run resumed inside an epoch). Gathering is
    one ``index_select`` per stream; a contiguous, unshuffled range is a view. Data kept
    in host memory for a CUDA device is gathered into pinned memory and copied without
    blocking.
    """
    count = len(order)
    stop = count - count % batch_size if drop_last else count
    source = next(iter(streams.columns.values())).device
    device = source if device is None else device
    transfer = device.type == "cuda" and source.type == "cpu"
    contiguous = count == len(streams) and bool(torch.equal(order, torch.arange(count)))
    if order.device != source:
        order = order.to(source)
    for start in range(skip * batch_size, stop, batch_size):
        end = min(start + batch_size, stop)
        if contiguous:
            batch = {name: column[start:end] for name, column in streams.columns.items()}
        else:
            chosen = order[start:end]
            if transfer:
                batch = {}
                for name, column in streams.columns.items():
                    pinned = torch.empty((end - start, *column.shape[1:]), dtype=column.dtype,
                                         pin_memory=True)
                    torch.index_select(column, 0, chosen, out=pinned)
                    batch[name] = pinned
            else:
                batch = {name: column.index_select(0, chosen)
                         for name, column in streams.columns.items()}
        if transfer:
            batch = {name: t.to(device, non_blocking=True) for name, t in batch.items()}
        yield batch
