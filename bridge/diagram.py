"""Network diagrams: Mermaid text (the tutorial's style), Graphviz DOT, SVG and PNG.

One node per layer, labelled with its id, type and output shape; one edge per parent.
SVG and PNG are drawn by Graphviz's ``dot`` program (Debian package ``graphviz``).
"""

from __future__ import annotations

import shutil
import subprocess

__all__ = ["to_mermaid", "to_dot", "render", "FORMATS"]

FORMATS = ("mermaid", "dot", "svg", "png")


def _node_name(index: int) -> str:
    # Mermaid and DOT ids must be plain; Cortex ids may hold '-', '>' or '/'.
    return f"L{index}"


def _label(layer) -> str:
    shape = layer.output_shape
    return f":{layer.id}<br/>:{layer.type}<br/>{shape.channels}x{shape.height}x{shape.width}"


def to_mermaid(net) -> str:
    """Mermaid flowchart text, top to bottom."""
    names = {layer.id: _node_name(layer.index) for layer in net.layers}
    lines = ["graph TD;"]
    for layer in net.layers:
        text = _label(layer).replace('"', "'")
        lines.append(f'    {names[layer.id]}["{text}"];')
    for layer in net.layers:
        for parent in layer.parents:
            lines.append(f"    {names[parent]} --> {names[layer.id]};")
    return "\n".join(lines) + "\n"


def to_dot(net) -> str:
    """Graphviz DOT text."""
    names = {layer.id: _node_name(layer.index) for layer in net.layers}
    lines = ["digraph network {", "    rankdir=TB;",
             '    node [shape=box, style="rounded", fontname="Helvetica"];']
    for layer in net.layers:
        text = _label(layer).replace("<br/>", "\\n").replace('"', '\\"')
        lines.append(f'    {names[layer.id]} [label="{text}"];')
    for layer in net.layers:
        for parent in layer.parents:
            lines.append(f"    {names[parent]} -> {names[layer.id]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(net, fmt: str = "mermaid") -> bytes:
    """The diagram in ``fmt`` (one of :data:`FORMATS`) as bytes.

    Raises:
        ValueError: an unknown format.
        RuntimeError: SVG or PNG asked for but Graphviz's ``dot`` is not installed.
    """
    if fmt == "mermaid":
        return to_mermaid(net).encode()
    if fmt == "dot":
        return to_dot(net).encode()
    if fmt not in FORMATS:
        raise ValueError(f"diagram format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            f"drawing {fmt.upper()} needs Graphviz's dot program: apt-get install -y graphviz "
            "(or ask for --format mermaid or dot)")
    result = subprocess.run([dot, f"-T{fmt}"], input=to_dot(net).encode(),
                            capture_output=True, check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
