"""``export_onnx``: a network as an ONNX model for deployment.

Inputs are named after the input layers and outputs after the leaves, with a dynamic
batch axis; outputs are Cortex's flat ``[N, C·H·W]``. Dropout is left out (inference).
Needs the ``onnx`` package (``pip install cortex-bridge[onnx]``).
"""

from __future__ import annotations

import io
import os
import warnings

import torch

from bridge.atomic import write_atomically
from bridge.network.positional import Positional, example_inputs

__all__ = ["export_onnx"]


def export_onnx(net, path: str | os.PathLike, *, opset: int = 17) -> None:
    """Write ``net`` to ``path`` as ONNX (atomically).

    Raises:
        RuntimeError: the ``onnx`` package is missing, with the command that installs it.
    """
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise RuntimeError("ONNX export needs the onnx package: pip install onnx "
                           "(or pip install 'cortex-bridge[onnx]')") from None
    was_training = net.training
    net.eval()
    try:
        examples = example_inputs(net)
        names_in = list(net.input_ids)
        names_out = list(net.output_ids)
        axes = {name: {0: "batch"} for name in names_in + names_out}
        buffer = io.BytesIO()
        # The TorchScript exporter needs only the onnx package; the newer torch.export
        # one also needs onnxscript. PyTorch marks the former deprecated, so say it once
        # here rather than warn every user.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # a note from the exporter's optimiser about the pooling crop; harmless
            warnings.filterwarnings("ignore", message="Constant folding")
            # (torch's annotation omits the file objects its docs accept)
            torch.onnx.export(Positional(net), examples, buffer,  # type: ignore[arg-type]
                              input_names=names_in,
                              output_names=names_out, dynamic_axes=axes,
                              opset_version=opset, dynamo=False)
    finally:
        net.train(was_training)
    write_atomically(path, buffer.getvalue())
