"""Training data in every shape users bring it, turned into named tensors once.

Accepted (``to_streams``):

- Cortex's sequence of maps, ``[{"data": [...], "labels": [...]}, …]`` (keys as str or
  keywords), where stream names are layer ids: inputs by their input layer, labels by
  the leaf they train;
- a mapping of whole columns, ``{"data": X, "labels": y}``;
- a pair ``(X, y)`` for a network with one input and one output;
- a :class:`Streams` (what :mod:`bridge.datasets` returns);
- a torch ``Dataset`` of ``(x, y)`` pairs or of maps, or a ``DataLoader``.

Everything is stacked into one tensor per stream up front, so an epoch is a random
permutation and one indexing per batch — no per-sample Python in the loop. Labels for a
softmax leaf may be class indices or one-hot (or soft) vectors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from bridge.edn.types import Keyword
from bridge.errors import DataError

__all__ = ["Streams", "to_streams", "validate_streams", "batches", "stream_name"]


def stream_name(key: Any) -> str:
    if isinstance(key, Keyword):
        return key.full
    if isinstance(key, str):
        return key.lstrip(":")
    raise DataError(f"stream names are strings or keywords; got {key!r}")


class Streams:
    """Named tensors with one row per sample."""

    def __init__(self, columns: Mapping[Any, Any], *, classes: int | None = None):
        self.columns: dict[str, torch.Tensor] = {}
        for key, value in columns.items():
            self.columns[stream_name(key)] = _as_tensor(value, stream_name(key))
        lengths = {name: len(t) for name, t in self.columns.items()}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f":{k} {v}" for k, v in lengths.items())
            raise DataError(f"streams have different lengths: {detail}")
        self.classes = classes

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, index):
        if isinstance(index, int):
            return {name: column[index] for name, column in self.columns.items()}
        return Streams({name: column[index] for name, column in self.columns.items()},
                       classes=self.classes)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for index in range(len(self)):
            yield self[index]

    def keys(self):
        return self.columns.keys()

    def to(self, device, *, non_blocking: bool = False) -> Streams:
        moved = Streams({}, classes=self.classes)
        moved.columns = {k: v.to(device, non_blocking=non_blocking) for k, v in
                         self.columns.items()}
        return moved

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {list(v.shape)}" for k, v in self.columns.items())
        return f"Streams({len(self)} samples; {shapes})"


def _as_tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise DataError(f"stream :{name} is not an array of numbers: {error}") from None
    if array.dtype == object:
        raise DataError(f"stream :{name} holds items of different sizes or non-numbers")
    if array.dtype.kind in "US":
        raise DataError(f"stream :{name} holds strings where numbers belong")
    if array.dtype.kind == "f":
        array = array.astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(array))


def _stack_maps(items: Sequence[Mapping], what: str) -> Streams:
    names = [stream_name(k) for k in items[0]]
    columns: dict[str, list] = {name: [] for name in names}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise DataError(f"{what} item {index} is a {type(item).__name__}, not a map of "
                            "streams")
        keys = {stream_name(k): v for k, v in item.items()}
        if set(keys) != set(names):
            missing = sorted(set(names) - set(keys))
            extra = sorted(set(keys) - set(names))
            raise DataError(f"{what} item {index} has different streams from item 0"
                            + (f"; missing {' '.join(':' + m for m in missing)}" if missing
                               else "")
                            + (f"; extra {' '.join(':' + e for e in extra)}" if extra else ""))
        for name in names:
            columns[name].append(keys[name])
    stacked = {}
    for name, values in columns.items():
        stacked[name] = _stack_column(values, name)
    return Streams(stacked)


def _stack_column(values: list, name: str) -> torch.Tensor:
    first = np.asarray(values[0]) if not isinstance(values[0], torch.Tensor) else values[0]
    size = int(np.prod(first.shape)) if hasattr(first, "shape") else 1
    for index, value in enumerate(values):
        count = value.numel() if isinstance(value, torch.Tensor) else np.size(value)
        if count != size:
            raise DataError(f"stream :{name} item {index} has {count} values; item 0 has {size}")
    if isinstance(values[0], torch.Tensor):
        return torch.stack([v.reshape(first.shape) for v in values])
    return _as_tensor(np.asarray(values), name)


def to_streams(data: Any, net) -> Streams:
    """Turn any accepted form of data into :class:`Streams` named for ``net``."""
    if isinstance(data, Streams):
        return data
    if data is None:
        raise DataError("no data given")
    if isinstance(data, Mapping):
        return Streams(data)
    if isinstance(data, torch.utils.data.DataLoader):
        return _from_loader(data, net)
    if isinstance(data, tuple | list) and len(data) == 2 and not isinstance(data[0], Mapping):
        if len(net.input_ids) != 1 or len(net.output_ids) != 1:
            raise DataError("(X, y) pairs need a network with one input and one output; "
                            "pass a map of streams named by layer ids instead")
        return Streams({net.input_ids[0]: data[0], net.output_ids[0]: data[1]})
    if isinstance(data, Sequence):
        if len(data) == 0:
            raise DataError("the dataset is empty")
        return _stack_maps(data, "dataset")
    if isinstance(data, torch.utils.data.Dataset):
        items = [data[i] for i in range(len(data))]  # type: ignore[arg-type]
        if not items:
            raise DataError("the dataset is empty")
        if isinstance(items[0], Mapping):
            return _stack_maps(items, "dataset")
        return to_streams((torch.stack([torch.as_tensor(x) for x, _ in items]),
                           torch.stack([torch.as_tensor(y) for _, y in items])), net)
    raise DataError(f"cannot train on a {type(data).__name__}; give a sequence of maps, "
                    "(X, y), a map of streams, a Dataset or a DataLoader")


def _from_loader(loader, net) -> Streams:
    parts: dict[str, list] = {}
    for batch in loader:
        if isinstance(batch, Mapping):
            for key, value in batch.items():
                parts.setdefault(stream_name(key), []).append(torch.as_tensor(value))
        else:
            x, y = batch
            if len(net.input_ids) != 1 or len(net.output_ids) != 1:
                raise DataError("(x, y) batches need a network with one input and one output")
            parts.setdefault(net.input_ids[0], []).append(torch.as_tensor(x))
            parts.setdefault(net.output_ids[0], []).append(torch.as_tensor(y))
    if not parts:
        raise DataError("the DataLoader yielded no batches")
    return Streams({k: torch.cat(v) for k, v in parts.items()})


def _label_kind(net, leaf: str) -> str:
    layer = next(layer for layer in net.layers if layer.id == leaf)
    return "softmax" if layer.type == "softmax" else "regression"


def validate_streams(streams: Streams, net, *, labels: bool, extra_streams=()) -> Streams:
    """Check ``streams`` against ``net`` before any work; returns them ready to use
    (inputs as float, class-index labels as int64).

    Raises:
        DataError: an empty dataset, a stream no layer reads, a missing stream, a width
            that does not fit its layer, NaN or infinity in an input, a label outside the
            classes — each naming the stream and the first offending item.
    """
    if len(streams) == 0:
        raise DataError("the dataset is empty")
    known = set(net.input_ids) | set(net.output_ids) | set(extra_streams)
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
                            f"it has " + " ".join(f":{k}" for k in streams.keys()))
        column = streams.columns[name]
        size = net.input_sizes[name]
        width = column[0].numel() if len(column) else 0
        if width != size:
            raise DataError(f"stream :{name} item 0 has {width} values; the input layer "
                            f":{name} takes {size}")
        column = column.reshape(len(column), size)
        if not column.is_floating_point():
            column = column.float()
        finite = torch.isfinite(column).all(dim=1)
        if not bool(finite.all()):
            first = int((~finite).nonzero()[0, 0])
            raise DataError(f"stream :{name} item {first} contains NaN or infinity")
        ready[name] = column
    for name in net.output_ids:
        if name not in streams.columns:
            if labels:
                raise DataError(f"the data has no label stream :{name} for the output layer "
                                f":{name}")
            continue
        ready[name] = _check_labels(streams.columns[name], net, name)
    for name in extra_streams:
        if name in streams.columns and name not in ready:
            ready[name] = streams.columns[name]
    checked = Streams({}, classes=streams.classes)
    checked.columns = ready
    return checked


def _check_labels(column: torch.Tensor, net, name: str) -> torch.Tensor:
    size = net.output_sizes[name]
    if _label_kind(net, name) == "softmax" and (column.dim() == 1 or (
            column.dim() == 2 and column.shape[1] == 1 and size > 1)):
        indices = column.reshape(-1)
        if indices.is_floating_point():
            if not bool((indices == indices.round()).all()):
                raise DataError(f"label stream :{name} holds fractions; give class indices or "
                                f"one-hot vectors of {size}")
            indices = indices.long()
        bad = (indices < 0) | (indices >= size)
        if bool(bad.any()):
            first = int(bad.nonzero()[0, 0])
            raise DataError(f"label stream :{name} item {first} is class {int(indices[first])}; "
                            f"the output layer :{name} has classes 0 to {size - 1}")
        return indices.long()
    width = column[0].numel()
    if width != size:
        raise DataError(f"label stream :{name} item 0 has {width} values; the output layer "
                        f":{name} produces {size}")
    return column.reshape(len(column), size).float()


def batches(streams: Streams, batch_size: int, *, shuffle: bool, generator: torch.Generator,
            drop_last: bool = False, indices: torch.Tensor | None = None
            ) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of ``streams`` in a (seeded) random or the stored order."""
    count = len(streams) if indices is None else len(indices)
    order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
    if indices is not None:
        order = indices[order]
    stop = count - count % batch_size if drop_last else count
    device = next(iter(streams.columns.values())).device
    if order.device != device:
        order = order.to(device)
    for start in range(0, stop, batch_size):
        chosen = order[start:start + batch_size]
        yield {name: column.index_select(0, chosen) for name, column in streams.columns.items()}
