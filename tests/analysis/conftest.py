"""Helpers for exact data-flow assertions.

Occurrences are named `name#k`: the k-th node of that name in source order.
An edge reads `src -> dst kind` (the value at dst comes from / is computed
from src), so an expected edge set stays readable.
"""

from __future__ import annotations

import textwrap

import pytest

from codelm.analysis import data_flow


def describe(source: str, language: str, **kwargs) -> tuple[list[str], set[str]]:
    graph = data_flow(textwrap.dedent(source).lstrip("\n"), language, **kwargs)
    counts: dict[str, int] = {}
    labels = []
    for node in graph.nodes:
        counts[node.name] = counts.get(node.name, 0) + 1
        labels.append(f"{node.name}#{counts[node.name]}")
    nodes = [f"{label}:{node.role[0]}" for label, node in zip(labels, graph.nodes, strict=True)]
    edges = {f"{labels[e.src]} -> {labels[e.dst]} {e.kind}" for e in graph.edges}
    return nodes, edges


@pytest.fixture
def dfg():
    """dfg(source, language) -> (nodes as 'name#k:role', edges as 'a#1 -> b#1 kind')."""
    return describe


def edges(spec: str) -> set[str]:
    """Parse an expected-edge block: one `a#1 -> b#2 cF|cP` per line (cF = comesFrom)."""
    out = set()
    for line in spec.strip().splitlines():
        src, arrow, dst, kind = line.split()
        assert arrow == "->"
        out.add(f"{src} -> {dst} {'comesFrom' if kind == 'cF' else 'computedFrom'}")
    return out


@pytest.fixture
def expect():
    return edges
