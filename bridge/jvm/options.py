"""The trainer's options in Clojure's words, for the Clojure door.

Clojure passes ``:batch-size``, Python takes ``batch_size``; an option the trainer does
not take fails before anything runs (:class:`bridge.errors.OptionError`, naming the
option as Clojure wrote it), and Python's messages are rewritten to Clojure's names
(``batch_size=0`` -> ``:batch-size 0``). Data and model messages name their stream,
layer and item; :func:`named_parts` lifts them into the ex-info's data.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from bridge.edn.types import Keyword
from bridge.errors import OptionError

__all__ = ["train_options", "check_options", "clojure_message", "named_parts"]


def _kw(name: str) -> Keyword:
    return Keyword(name)


# Keyword arguments of bridge.train that are not Clojure options (the door sets them).
_NOT_OPTIONS = {"net", "train", "test", "validation", "log", "cancel", "on_epoch",
                "on_batch", "callbacks"}


def train_options() -> list[str]:
    from bridge.training.trainer import train

    return [name for name in inspect.signature(train).parameters
            if name not in _NOT_OPTIONS]


def check_options(what: str, kwargs: dict, allowed: list[str], door=()) -> None:
    """``door``: the options the Clojure side takes itself (listed, not checked)."""
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        allowed = [*allowed, *door]
        names = " ".join(":" + a.replace("_", "-") for a in allowed)
        option = _kw(unknown[0].replace("_", "-"))
        raise OptionError(f"{what} has no option :{option.name}; its options are {names}",
                          {_kw("cortex.bridge/error"): _kw("unknown-option"),
                           _kw("option"): option,
                           _kw("options"): [_kw(a.replace("_", "-")) for a in allowed]})


def clojure_message(text: str) -> str:
    """A Python message in Clojure's words: ``batch_size=0`` and `` `batch_size` `` of the
    trainer's options become ``:batch-size 0`` and ``:batch-size``."""
    for name in sorted(train_options(), key=len, reverse=True):
        kebab = ":" + name.replace("_", "-")
        text = re.sub(rf"`{name}`", kebab, text)
        text = re.sub(rf"\b{name}=", kebab + " ", text)
        if "_" in name:
            text = re.sub(rf"\b{name}\b", kebab, text)
    return text


def named_parts(message: str, kind: str) -> dict:
    """``:stream``, ``:layer`` and ``:item`` as the message names them (the trainer's and
    loader's messages say ``stream :x``, ``layer :fc``, ``item 3``)."""
    data: dict[Keyword, Any] = {_kw("cortex.bridge/error"): _kw(kind)}
    for key, pattern in (("stream", r"\bstreams? :([\w.*+!?<>=/-]+)"),
                         ("layer", r"\blayer :([\w.*+!?<>=/-]+)")):
        found = re.search(pattern, message)
        if found:
            data[_kw(key)] = _kw(found.group(1))
    item = re.search(r"\bitem (\d+)", message)
    if item:
        data[_kw("item")] = int(item.group(1))
    return data
