"""``cortex-bridge inspect``, ``convert`` and ``export``: saved networks on the command line."""

from __future__ import annotations

import argparse
import sys
import zlib

__all__ = ["add_commands", "inspect_text", "parameter_checksum"]


def parameter_checksum(tensor) -> int:
    """CRC-32 of the tensor's little-endian bytes in C order (the tensor tag's ``:crc32``)."""
    array = tensor.detach().to("cpu").contiguous().numpy()
    if array.dtype.byteorder == ">":
        array = array.byteswap().view(array.dtype.newbyteorder("<"))
    return zlib.crc32(array.tobytes())


def _edn_text(value) -> str:
    from bridge.edn import dumps

    return dumps(value)


def inspect_text(net) -> str:
    """Header, layer table, every parameter's shape and checksum, and the metrics."""
    lines = []
    header = net.header
    for key in ("name", "cortex-bridge/format", "cortex-bridge/version", "torch/version",
                "created"):
        if key in header:
            lines.append(f"{key + ':':24}{_edn_text(header[key])}")
    if "train" in header:
        lines.append(f"{'train:':24}{_edn_text(header['train'])}")
    if lines:
        lines.append("")
    lines.append(net.summary())
    lines.append("")
    lines.append("parameters:")
    for layer_id, params in net.parameters_by_layer().items():
        for name, tensor in params.items():
            shape = "[" + " ".join(str(d) for d in tensor.shape) + "]"
            dtype = str(tensor.dtype).replace("torch.", "")
            lines.append(f"  :{layer_id} :{name:10} {shape:14} {dtype:8} "
                         f"crc32 {parameter_checksum(tensor):08x}")
    history = header.get("history")
    if history:
        lines.append("")
        lines.append(f"history: {len(history)} epochs")
    if "metrics" in header:
        lines.append("")
        lines.append(f"metrics: {_edn_text(header['metrics'])}")
    return "\n".join(lines)


def _inspect(args: argparse.Namespace) -> int:
    from bridge.saving.load import load_model

    print(inspect_text(load_model(args.network)))
    return 0


def _convert(args: argparse.Namespace) -> int:
    from bridge.saving.load import load_model
    from bridge.saving.save import save_network

    net = load_model(args.input)
    save_network(net, args.output, encoding=args.encoding)
    print(f"wrote {args.output} ({args.encoding} encoding)", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from bridge.saving.load import load_model
    from bridge.saving.onnx import export_onnx

    net = load_model(args.network)
    export_onnx(net, args.onnx, opset=args.opset)
    print(f"wrote {args.onnx}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("inspect", help="show a saved network: header, layers, parameter "
                                       "shapes and checksums, metrics")
    p.add_argument("network", metavar="NETWORK.edn")
    p.set_defaults(run=_inspect)

    p = sub.add_parser("convert", help="rewrite a network with another parameter encoding")
    p.add_argument("input", metavar="IN.edn")
    p.add_argument("output", metavar="OUT.edn")
    p.add_argument("--encoding", choices=("tensor", "vector"), default="tensor")
    p.set_defaults(run=_convert)

    p = sub.add_parser("export", help="write a network for deployment (ONNX)")
    p.add_argument("network", metavar="NETWORK.edn")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx")
    p.add_argument("--opset", type=int, default=17)
    p.set_defaults(run=_export)

