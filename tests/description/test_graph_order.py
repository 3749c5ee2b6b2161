"""Cortex's graph (depth-first) order for default ids and implicit parents."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import bridge
from bridge.description.ids import assign_ids, graph_order, link_parents
from bridge.description.normalize import RawNode


def test_issue_example_linear_1_is_the_three_unit_layer():
    net = bridge.load_model("[(input 4 1 1 :id :in) (linear 5 :parents [:r]) "
                            "(linear 3 :parents [:in]) (relu :id :r)]")
    sizes = {layer.id: layer.output_size for layer in net.layers}
    assert sizes["linear-1"] == 3 and sizes["linear-2"] == 5
    assert net.layers[3].parents == ("linear-1",)  # the relu follows the 3-unit linear


def test_implicit_parent_is_the_previous_node_in_graph_order():
    # File order puts the tanh after :r, but Cortex adds it after the 5-unit linear.
    net = bridge.load_model("[(input 4 1 1 :id :in) (linear 5 :parents [:r]) "
                            "(linear 3 :parents [:in]) (relu :id :r) (tanh)]")
    by_id = {layer.id: layer for layer in net.layers}
    assert by_id["tanh-1"].parents == ("linear-2",)
    assert by_id["tanh-1"].output_size == 5


def test_sequences_keep_file_order_ids():
    net = bridge.load_model("edn_models/mnist-conv.edn")
    assert [layer.id for layer in net.layers] == [
        "data", "convolutional-1", "max-pooling-1", "relu-1", "convolutional-2",
        "max-pooling-2", "batch-normalization-1", "linear-1", "relu-2", "dropout-1",
        "linear-2", "labels"]
    two = bridge.load_model("edn_models/two-inputs.edn")
    assert [layer.id for layer in two.layers][-2:] == ["linear-1", "label"]


def test_a_layer_connected_to_nothing_is_refused():
    with pytest.raises(bridge.ModelError) as caught:
        bridge.load_model("[(input 3 :id :a) (input 3 :id :b) (linear 2 :parents [:a])]")
    assert caught.value.layer_id == "b"
    assert "connected to no other layer" in str(caught.value)


def test_a_single_layer_is_a_network():
    assert [layer.id for layer in bridge.load_model("[(input 3)]").layers] == ["input-1"]


# --- against a direct transcription of Cortex's algorithm ------------------------------------


def _cortex(desc):
    """order-desc-nodes + dfs-seq (tree-seq, reverse, distinct, reverse) + add-node."""
    edges, nodes, previous = [], {}, None
    for position, d in enumerate(desc):
        gen = d.get("id") or ("uuid", position)
        node = dict(d, gen=gen)
        if "parents" not in d and previous is None:
            node["parents"] = []
        nodes[gen] = node
        parents = d.get("parents", [previous["gen"]]) if previous else d.get("parents", [])
        edges += [(p, gen) for p in parents]
        previous = node
    children: dict = {}
    for p, c in edges:
        children.setdefault(p, []).append(c)
    child_set = {c for _, c in edges}
    roots = list(dict.fromkeys(p for p, _ in edges if p not in child_set))
    walk = []

    def visit(key):  # tree-seq: preorder of the unfolded graph
        walk.append(key)
        for child in children.get(key, []):
            visit(child)

    for root in roots:
        visit(root)
    order = list(reversed(list(dict.fromkeys(reversed(walk)))))
    ids, parents, last = {}, {}, None
    for gen in order:
        if gen not in nodes:
            continue
        node = nodes[gen]
        ident = node.get("id")
        if ident is None:
            number = 1
            while f"{node['type']}-{number}" in ids.values():
                number += 1
            ident = f"{node['type']}-{number}"
        ids[gen] = ident
        parents[ident] = list(node["parents"]) if "parents" in node else (
            [ids[last]] if last is not None else [])
        last = gen
    return parents


@st.composite
def descriptions(draw):
    count = draw(st.integers(2, 7))
    named = [draw(st.booleans()) for _ in range(count)]
    rank = draw(st.permutations(range(count)))  # a hidden topological order
    desc = [{"type": "input", "id": "n0"}]
    for i in range(1, count):
        node = {"type": draw(st.sampled_from(["linear", "relu"]))}
        if named[i]:
            node["id"] = f"n{i}"
        earlier = [f"n{j}" for j in range(count) if j in (0, *[k for k in range(count)
                   if named[k]]) and rank[j] < rank[i] and j != i]
        if earlier and draw(st.booleans()):
            node["parents"] = draw(st.lists(st.sampled_from(earlier), min_size=1,
                                            max_size=2, unique=True))
        desc.append(node)
    return desc


def _acyclic_and_connected(desc) -> bool:
    edges, previous = [], None
    for position, d in enumerate(desc):
        key = d.get("id") or position
        parents = d.get("parents", [previous] if previous is not None else [])
        edges += [(p, key) for p in parents]
        previous = key
    keys = [d.get("id") or i for i, d in enumerate(desc)]
    linked = {k for edge in edges for k in edge}
    if any(k not in linked for k in keys):
        return False
    remaining, edges_left = set(keys), list(edges)
    while remaining:
        sources = [k for k in remaining if not any(c == k for _, c in edges_left)]
        if not sources:
            return False
        remaining -= set(sources)
        edges_left = [(p, c) for p, c in edges_left if p not in sources]
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(descriptions())
def test_ids_and_parents_match_cortex(desc):
    assume(_acyclic_and_connected(desc))
    raws = [RawNode(node={k: (list(v) if k == "parents" else v) for k, v in d.items()},
                    index=i + 1) for i, d in enumerate(desc)]
    ordered, isolated = graph_order(raws)
    assert not isolated
    assert not assign_ids(ordered)
    link_parents(ordered)
    ours = {raw.node["id"]: raw.node["parents"] for raw in ordered}
    assert ours == _cortex(desc)
