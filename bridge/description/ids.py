"""Cortex's default layer ids and the rules an id must follow here.

Cortex names an unnamed node ``<type>-N`` with the smallest N ≥ 1 not yet taken
(``cortex/util.cljc`` ``generate-id``; cortex-spec §1.1): ``:linear-1``, ``:relu-1``,
``:linear-2``. Dataset streams and weight maps are keyed by these ids, so they must
come out exactly as Cortex's.

Differs from Cortex: ids written explicitly anywhere in the description are reserved
before any default id is made, so a later explicit ``:linear-1`` never collides with a
generated one (Cortex would throw "duplicate id").
"""

from __future__ import annotations

from torch import nn

from bridge.description.normalize import RawNode
from bridge.errors import ModelError

__all__ = ["assign_ids", "id_problem"]

# Names a torch ModuleDict key may not take: they are attributes of the container.
_RESERVED = frozenset(name for name in dir(nn.ModuleDict) if not name.startswith("__"))


def id_problem(ident: str) -> str | None:
    """Why ``ident`` cannot name a layer, or ``None`` when it can."""
    if not ident:
        return "a layer id may not be empty"
    if "." in ident:
        return f"a layer id may not contain '.' (torch uses it for nesting). Received: :{ident}"
    if ident in _RESERVED:
        return f"the layer id :{ident} is reserved by torch.nn.ModuleDict; choose another"
    return None


def assign_ids(raw_nodes: list[RawNode]) -> list[ModelError]:
    """Give every node an ``"id"``, in place; returns the problems found."""
    problems: list[ModelError] = []
    seen: dict[str, RawNode] = {}
    for raw in raw_nodes:
        ident = raw.node.get("id")
        if ident is None:
            continue
        if ident in seen:
            first = seen[ident]
            problems.append(ModelError(
                f"duplicate layer id :{ident}; layer {first.index} already has it",
                line=raw.line, column=raw.column, layer_index=raw.index, layer_id=ident,
                layer_type=raw.node.get("type"),
            ))
            continue
        seen[ident] = raw
        reason = id_problem(ident)
        if reason:
            problems.append(ModelError(reason, line=raw.line, column=raw.column,
                                       layer_index=raw.index, layer_id=ident,
                                       layer_type=raw.node.get("type")))
    taken = set(seen)
    next_free: dict[str, int] = {}
    for raw in raw_nodes:
        if raw.node.get("id") is not None:
            continue
        stem = str(raw.node.get("type", "layer")).rpartition("/")[2]
        number = next_free.get(stem, 1)
        while f"{stem}-{number}" in taken:
            number += 1
        ident = f"{stem}-{number}"
        raw.node["id"] = ident
        taken.add(ident)
        next_free[stem] = number + 1
    return problems
