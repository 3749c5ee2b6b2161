"""Assembling an imported graph into a description this project loads.

Importers collect nodes as plain dicts with ``str`` keys (``"type"``, ``"id"``,
``"parents"``, Cortex's other keys, parameters as tensors); :func:`finish` inserts
Cortex's ``:split`` nodes where one output feeds several nodes, and turns the dicts into
EDN data (keyword keys, keyword values where Cortex writes keywords).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from bridge.edn.types import Keyword, Vector

__all__ = ["IdMaker", "finish", "edn_node", "clean_id"]

#: Keys whose values Cortex writes as keywords.
KEYWORD_VALUES = ("type", "id", "mode", "pool-op", "dimension-op", "operation", "distribution")


def clean_id(name: str, fallback: str) -> str:
    """An id that reads back as one EDN keyword: other characters become ``-``; a name
    that does not start with a letter gets ``fallback-`` in front."""
    cleaned = re.sub(r"[^A-Za-z0-9_.*+!?<>=-]+", "-", name).strip("-.")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"{fallback}-{cleaned}" if cleaned else fallback
    return cleaned


class IdMaker:
    """Cortex-style ids ``<type>-N``, never one already taken."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self._counts: Counter = Counter()

    def claim(self, wanted: str) -> str:
        """``wanted`` itself, or ``wanted-2``… when it is taken."""
        candidate, n = wanted, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{wanted}-{n}"
        self.taken.add(candidate)
        return candidate

    def make(self, type_name: str) -> str:
        while True:
            self._counts[type_name] += 1
            candidate = f"{type_name}-{self._counts[type_name]}"
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate


def insert_splits(nodes: list[dict], ids: IdMaker) -> list[dict]:
    """A ``:split`` after every node read by more than one parent slot, as Cortex's
    own graphs have (its backward pass sums the children's gradients only there)."""
    readers = Counter(parent for node in nodes for parent in node["parents"])
    result: list[dict] = []
    renamed: dict[str, str] = {}
    for node in nodes:
        node = {**node, "parents": [renamed.get(p, p) for p in node["parents"]]}
        result.append(node)
        if readers[node["id"]] > 1 and node["type"] != "split":
            split_id = ids.make("split")
            renamed[node["id"]] = split_id
            result.append({"type": "split", "id": split_id, "parents": [node["id"]]})
    return result


def edn_node(node: dict) -> dict:
    """One node with keyword keys (``:type :id :parents`` first)."""
    doc = {}
    for key in ("type", "id", "parents", *[k for k in node if k not in ("type", "id", "parents")]):
        if key not in node:
            continue
        value = node[key]
        if key == "parents":
            value = Vector(Keyword(p) for p in value)
        elif key in KEYWORD_VALUES and isinstance(value, str):
            value = Keyword(value)
        doc[Keyword(key)] = value
    return doc


def finish(nodes: Iterable[dict], ids: IdMaker) -> Vector:
    """The description: splits inserted, EDN keys."""
    return Vector(edn_node(node) for node in insert_splits(list(nodes), ids))
