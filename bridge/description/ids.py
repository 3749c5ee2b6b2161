"""Cortex's graph order, default layer ids and implicit parents, and the rules an id
must follow here.

**Graph order.** Cortex does not number layers in file order. ``linear-network``
(``network.clj`` ``order-desc-nodes``) first links every layer without ``:parents`` to
the layer written before it, then sorts the description depth-first (``graph.clj``
``dfs-seq``: from the roots, in the order they first appear as parents, children in
the order their edges were written, each node at its *last* place in that walk, so a
child comes after all its parents). In that order it then generates default ids and
links each layer without ``:parents`` to the layer added just before it. So for::

    [(input 4 1 1 :id :in) (linear 5 :parents [:r]) (linear 3 :parents [:in])
     (relu :id :r)]

the order is ``:in``, the 3-unit linear, ``:r``, the 5-unit linear, and Cortex's
``:linear-1`` is the 3-unit layer. For a plain sequence, graph order is file order.

**Default ids.** An unnamed node is ``<type>-N`` with the smallest N ≥ 1 not yet taken
(``cortex/util.cljc`` ``generate-id``; cortex-spec §1.1): ``:linear-1``, ``:relu-1``,
``:linear-2``. Dataset streams and weight maps are keyed by these ids, so they must
come out exactly as Cortex's.

Differs from Cortex: ids written explicitly anywhere in the description are reserved
before any default id is made, so a later explicit ``:linear-1`` never collides with a
generated one (Cortex would throw "duplicate id"). An ``input`` is never linked to the
layer before it (Cortex would, and then fail to size it). A layer connected to nothing
(no parents, and no layer names it) is refused; Cortex silently dropped it.
"""

from __future__ import annotations

import functools

from bridge.description.normalize import RawNode
from bridge.errors import ModelError

__all__ = ["assign_ids", "id_problem", "graph_order", "link_parents"]



@functools.cache
def _reserved() -> frozenset[str]:
    """Names a torch ModuleDict key may not take: they are attributes of the container.
    (Asked of torch when first needed, so reading a description needs no torch.)"""
    from torch import nn

    return frozenset(name for name in dir(nn.ModuleDict) if not name.startswith("__"))


def id_problem(ident: str) -> str | None:
    """Why ``ident`` cannot name a layer, or ``None`` when it can."""
    if not ident:
        return "a layer id may not be empty"
    if "." in ident:
        return f"a layer id may not contain '.' (torch uses it for nesting). Received: :{ident}"
    if ident in _reserved():
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


def _links(raw_nodes: list[RawNode]) -> tuple[list, list[tuple]]:
    """Each node's key (its explicit id, else its position) and the edges Cortex draws
    before sorting: explicit ``:parents``, else the node written before it."""
    keys = [raw.node.get("id") or ("#", position) for position, raw in enumerate(raw_nodes)]
    edges = []
    for position, raw in enumerate(raw_nodes):
        parents = raw.node.get("parents")
        if parents is None:
            implicit = position > 0 and raw.node.get("type") != "input"
            parents = [keys[position - 1]] if implicit else []
        edges += [(parent, keys[position]) for parent in parents]
    return keys, edges


def graph_order(raw_nodes: list[RawNode]) -> tuple[list[RawNode], list[RawNode]]:
    """``(nodes in Cortex's depth-first order, nodes connected to nothing)``.

    Equivalent to Cortex's ``dfs-seq`` (the last place of each node in a preorder walk
    of the unfolded graph), computed without unfolding: the reverse of a post-order walk
    that takes roots and children last-first. Nodes that walk cannot reach but that have
    edges (a cycle) go last, for the cycle check to name them.
    """
    explicit = [raw.node["id"] for raw in raw_nodes if raw.node.get("id") is not None]
    if len(explicit) != len(set(explicit)) or len(raw_nodes) < 2:
        return list(raw_nodes), []  # duplicate ids: assign_ids reports them first
    keys, edges = _links(raw_nodes)
    children: dict = {}
    has_parent = set()
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
        has_parent.add(child)
    roots = [key for key in children if key not in has_parent]  # dicts keep edge order
    seen, post = set(), []
    for root in reversed(roots):
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(reversed(children.get(root, []))))]
        while stack:
            key, pending = stack[-1]
            for child in pending:
                if child not in seen:
                    seen.add(child)
                    stack.append((child, iter(reversed(children.get(child, [])))))
                    break
            else:
                stack.pop()
                post.append(key)
    by_key = dict(zip(keys, raw_nodes, strict=True))
    ordered = [by_key[key] for key in reversed(post) if key in by_key]
    linked = has_parent | set(children)
    isolated = [raw for key, raw in zip(keys, raw_nodes, strict=True) if key not in linked]
    cyclic = [raw for key, raw in zip(keys, raw_nodes, strict=True)
              if key in linked and key not in seen]
    return ordered + cyclic, isolated


def link_parents(ordered: list[RawNode]) -> None:
    """Give each node without ``:parents`` the node before it in graph order (none for
    the first node and for inputs), in place."""
    previous = None
    for raw in ordered:
        node = raw.node
        if "parents" not in node:
            implicit = previous is not None and node.get("type") != "input"
            node["parents"] = [previous] if implicit else []
        previous = node["id"]
