"""Every exception class cortex-bridge raises, and the one message template they share.

A message reads like a compiler diagnostic, so editors can jump to it::

    model.edn:4:3: layer 2 (:conv-1 :convolutional): :kernel-width must be a positive
    integer. Received: :kernel-width 0

Each part is present only where it is known. This module imports nothing from the rest
of the package, so every layer of the pipeline may raise these.
"""

from __future__ import annotations

__all__ = [
    "BridgeError",
    "ModelError",
    "EdnSyntaxError",
    "ModelErrors",
    "DataError",
    "TrainingError",
    "ClojureError",
    "Interrupted",
    "AbandonedRun",
    "ClojureNotFound",
    "ConstructorError",
    "UnsupportedOnnxNode",
    "UnknownKeyWarning",
    "NetworkBusy",
    "OptionError",
    "format_location",
]


def format_location(
    source: str | None = None,
    line: int | None = None,
    column: int | None = None,
    layer_index: int | None = None,
    layer_id: str | None = None,
    layer_type: str | None = None,
) -> str:
    """The ``file:line:col: layer N (:id :type): `` prefix of a message, or ``""``."""
    parts = []
    if source is not None or line is not None:
        where = source or "<string>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        parts.append(where)
    if layer_index is not None or layer_id is not None:
        what = "layer" if layer_index is None else f"layer {layer_index}"
        names = " ".join(f":{n}" for n in (layer_id, layer_type) if n)
        if names:
            what += f" ({names})"
        parts.append(what)
    return "".join(p + ": " for p in parts)


class BridgeError(Exception):
    """Base class of every error cortex-bridge raises on purpose."""


class ModelError(BridgeError, ValueError):
    """A model description that cannot be read, understood or built.

    Attributes:
        reason: the bare explanation, without the location prefix.
        source: the file name (or ``None`` for text and data).
        line, column: 1-based position of the offending form, where the reader knows it.
        layer_index: 1-based position of the layer in the flattened description.
        layer_id: the layer's id without the colon.
        layer_type: the layer's type without the colon.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        layer_index: int | None = None,
        layer_id: str | None = None,
        layer_type: str | None = None,
    ):
        self.reason = reason
        self.source = source
        self.line = line
        self.column = column
        self.layer_index = layer_index
        self.layer_id = layer_id
        self.layer_type = layer_type
        super().__init__(self._render())

    def _render(self) -> str:
        return (
            format_location(
                self.source,
                self.line,
                self.column,
                self.layer_index,
                self.layer_id,
                self.layer_type,
            )
            + self.reason
        )

    def __str__(self) -> str:
        return self._render()

    def with_context(self, **context) -> ModelError:
        """Fill in location fields that are still unknown; returns ``self``."""
        for key, value in context.items():
            if value is not None and getattr(self, key, None) is None:
                setattr(self, key, value)
        self.args = (self._render(),)
        return self

    def __reduce__(self):
        # Keep the keyword-only fields across pickling (multiprocessing, pytest-xdist).
        return (_rebuild, (type(self), self.reason, self.__dict__.copy()))


def _rebuild(cls, reason, state):
    error = cls.__new__(cls)
    Exception.__init__(error, reason)
    error.__dict__.update(state)
    return error


class EdnSyntaxError(ModelError):
    """EDN text that the Clojure reader would also reject."""


class ModelErrors(ModelError):
    """Several problems found in one description; ``.errors`` lists each one.

    Validation collects every problem before raising, so a user fixes a file in one pass.
    """

    def __init__(self, errors: list[ModelError], *, source: str | None = None):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(
            first.reason,
            source=source or first.source,
            line=first.line,
            column=first.column,
            layer_index=first.layer_index,
            layer_id=first.layer_id,
            layer_type=first.layer_type,
        )

    def _render(self) -> str:
        if len(self.errors) == 1:
            return str(self.errors[0])
        lines = [f"{len(self.errors)} problems in the model description:"]
        lines += [f"  {error}" for error in self.errors]
        return "\n".join(lines)

    def with_context(self, **context) -> ModelErrors:
        for error in self.errors:
            error.with_context(**context)
        super().with_context(**context)
        return self


class ConstructorError(ValueError):
    """A call form whose arguments do not fit the constructor; the caller adds the place
    (bridge.description.normalize turns it into a ModelError with file, line and layer)."""


class DataError(BridgeError, ValueError):
    """Training or evaluation data that does not fit the network."""


class TrainingError(BridgeError, RuntimeError):
    """Training that cannot go on (a NaN loss, a failed checkpoint, …)."""


class ClojureError(BridgeError, RuntimeError):
    """A failure on the JVM side; ``.clojure_trace`` holds the Java stack trace text."""

    def __init__(self, message: str, *, clojure_type: str | None = None, clojure_trace: str = ""):
        self.clojure_type = clojure_type
        self.clojure_trace = clojure_trace
        super().__init__(message)


class OptionError(BridgeError, ValueError):
    """An option a Clojure door call does not take; ``clojure_data`` (keyword keys) goes
    into the ex-info's data."""

    def __init__(self, message: str, data: dict | None = None):
        super().__init__(message)
        self.clojure_data = data or {}


class NetworkBusy(BridgeError, RuntimeError):
    """A network already in use by another thread (the Clojure door runs one call per
    network at a time; ``:wait true`` waits instead)."""


class Interrupted(KeyboardInterrupt):
    """A run stopped on request: Ctrl-C, or a ``cancel`` token set from another thread
    (the Clojure door's interrupt). The network holds the state of the last finished
    step; ``.history`` is the run's history so far (``.checkpoint`` the file written, if
    one was asked for). A subclass of ``KeyboardInterrupt``, so code that catches Ctrl-C
    catches it too."""

    def __init__(self, message: str = "interrupted", *, history=None):
        super().__init__(message)
        self.history = history

    @property
    def checkpoint(self) -> str | None:
        return getattr(self.history, "checkpoint", None)


class UnsupportedOnnxNode(Exception):
    """An ONNX node Cortex's vocabulary cannot express exactly; the importer turns it
    into a :class:`ModelError` naming the node (internal to :mod:`bridge.importers`)."""


class ClojureNotFound(RuntimeError):
    """No Java, no Clojure or no project sources to host the Clojure door; the message
    says what to install or set."""


class AbandonedRun(KeyboardInterrupt):
    """The third Ctrl-C of a run that protects its checkpoint: stop at once and write
    nothing (the previous checkpoint stays whole). Internal to the trainer, which turns
    it into :class:`Interrupted`."""


class UnknownKeyWarning(UserWarning):
    """A key on a layer that no part of cortex-bridge reads (a typo, or an option of
    another layer type). The message names file, line and layer;
    ``load_model(..., strict=True)`` makes it a :class:`ModelError`."""
