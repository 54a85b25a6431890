"""The data-flow graph CodeBLEU compares (GraphCodeBERT's definition).

CodeBLEU's data-flow match (Ren et al. 2020) is defined on the variable
graph of GraphCodeBERT (Guo et al. 2021): every value-carrying leaf (an
identifier or a literal) is a node; an edge says where a node's value
"comesFrom" (the last definitions of a name that reach it) or is
"computedFrom" (the right-hand side of an assignment). Its quirks decide the
scores (loops are walked twice so loop-carried values reach the top of the
body; `a.b = c + d` pairs children position by position; literals count as
variables), so this module follows that definition rule for rule rather
than using a general def-use analysis; that is why it lives with the metric
and not in `codelm.analysis`.

The walker is one function driven by a per-language rule table. Where the
reference code iterates a Python `set` (whose order changes with
PYTHONHASHSEED), names are sorted instead, so scores are deterministic.

An edge is `(name, token_index, relation, parent_names, parent_indices)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tree_sitter

from codelm.analysis.parsing import ParseResult, parse

# Leaves for the data flow: tokens without children, plus whole string
# literals (their quote/content children are not separate values).
_ATOMIC = frozenset({"string_literal", "string", "character_literal"})

Edge = tuple[str, int, str, list[str], list[int]]
States = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class Rules:
    """Which node types play which role in one language's grammar."""

    assignments: frozenset[str] = frozenset()
    paired: bool = False  # Python: zip the children of left and right (`a, b = b, a`)
    declarations: frozenset[str] = frozenset()
    decl_fields: tuple[str, str] = ("name", "value")
    increments: frozenset[str] = frozenset()
    ifs: frozenset[str] = frozenset()
    python_if: bool = False  # branches are elif/else clauses, not "everything after `else`"
    if_keeps_old: bool = False  # JavaScript: the states before the `if` always survive
    fors: frozenset[str] = frozenset()
    python_for: bool = False
    for_decl: str = ""  # C-family: children after the init declaration are walked again
    foreach: frozenset[str] = frozenset()
    foreach_fields: tuple[str, str, str] = ("name", "value", "body")
    whiles: frozenset[str] = frozenset()
    first: frozenset[str] = field(default_factory=frozenset)  # walked before their siblings


RULES: dict[str, Rules] = {
    "python": Rules(
        assignments=frozenset({"assignment", "augmented_assignment", "for_in_clause"}),
        paired=True,
        declarations=frozenset({"default_parameter"}),
        ifs=frozenset({"if_statement"}),
        python_if=True,
        fors=frozenset({"for_statement"}),
        python_for=True,
        whiles=frozenset({"while_statement"}),
        first=frozenset({"for_in_clause"}),
    ),
    "java": Rules(
        assignments=frozenset({"assignment_expression"}),
        declarations=frozenset({"variable_declarator"}),
        increments=frozenset({"update_expression"}),
        ifs=frozenset({"if_statement", "else"}),
        fors=frozenset({"for_statement"}),
        for_decl="local_variable_declaration",
        foreach=frozenset({"enhanced_for_statement"}),
        whiles=frozenset({"while_statement"}),
    ),
    "javascript": Rules(
        assignments=frozenset({"assignment_pattern", "augmented_assignment_expression"}),
        declarations=frozenset({"variable_declarator"}),
        increments=frozenset({"update_expression"}),
        ifs=frozenset({"if_statement", "else"}),
        if_keeps_old=True,
        fors=frozenset({"for_statement"}),
        for_decl="variable_declaration",
        whiles=frozenset({"while_statement"}),
    ),
    "csharp": Rules(
        assignments=frozenset({"assignment_expression"}),
        declarations=frozenset({"variable_declarator"}),
        increments=frozenset({"postfix_unary_expression"}),
        ifs=frozenset({"if_statement", "else"}),
        fors=frozenset({"for_statement"}),
        for_decl="local_variable_declaration",
        foreach=frozenset({"foreach_statement", "for_each_statement"}),
        foreach_fields=("left", "right", "body"),
        whiles=frozenset({"while_statement"}),
    ),
    # C and C++ (XLCoST applies the C# rules; these are the same rules on C's node names).
    "c": Rules(
        assignments=frozenset({"assignment_expression"}),
        declarations=frozenset({"init_declarator"}),
        decl_fields=("declarator", "value"),
        increments=frozenset({"update_expression"}),
        ifs=frozenset({"if_statement", "else"}),
        fors=frozenset({"for_statement"}),
        for_decl="declaration",
        whiles=frozenset({"while_statement"}),
    ),
}
RULES["typescript"] = RULES["javascript"]
RULES["cpp"] = RULES["c"]


def supported_languages() -> list[str]:
    return sorted(RULES)


class _Walker:
    def __init__(self, result: ParseResult, rules: Rules) -> None:
        self.result = result
        self.rules = rules
        # token (start, end byte) -> (ordinal, text); the ordinal orders nodes
        self.tokens: dict[tuple[int, int], tuple[int, str]] = {}
        for node in self._leaves(result.root):
            self.tokens.setdefault((node.start_byte, node.end_byte), (len(self.tokens), result.text(node)))

    @staticmethod
    def _is_leaf(node: tree_sitter.Node) -> bool:
        return (node.child_count == 0 or node.type in _ATOMIC) and node.type != "comment"

    def _leaves(self, node: tree_sitter.Node):
        stack = [node]
        while stack:
            cur = stack.pop()
            if self._is_leaf(cur):
                yield cur
            elif cur.type != "comment":
                stack.extend(reversed(cur.children))

    def _token(self, node: tree_sitter.Node) -> tuple[int, str]:
        return self.tokens[(node.start_byte, node.end_byte)]

    def variables(self, node: tree_sitter.Node | None) -> list[tuple[int, str]]:
        """Value-carrying tokens under `node`: leaves that are not keywords or punctuation."""
        if node is None:
            return []
        out = []
        for leaf in self._leaves(node):
            idx, text = self._token(leaf)
            if leaf.type != text:
                out.append((idx, text))
        return out

    # -- the walk ---------------------------------------------------------
    def walk(self, node: tree_sitter.Node | None, states: States) -> tuple[list[Edge], States]:
        if node is None:
            return [], states
        states = dict(states)
        r = self.rules
        kind = node.type
        if self._is_leaf(node):
            return self._leaf(node, states)
        if kind in r.declarations:
            return self._declaration(node, states)
        if kind in r.assignments:
            return self._paired_assignment(node, states) if r.paired else self._assignment(node, states)
        if kind in r.increments:
            return self._increment(node, states)
        if kind in r.ifs:
            return self._python_if(node, states) if r.python_if else self._c_if(node, states)
        if kind in r.fors:
            return self._python_for(node, states) if r.python_for else self._c_for(node, states)
        if kind in r.foreach:
            return self._foreach(node, states)
        if kind in r.whiles:
            return self._while(node, states)
        return self._children(node.children, states)

    def _children(self, children, states: States) -> tuple[list[Edge], States]:
        edges: list[Edge] = []
        ordered = [c for c in children if c.type in self.rules.first] + [
            c for c in children if c.type not in self.rules.first
        ]
        for child in ordered:
            more, states = self.walk(child, states)
            edges += more
        return _by_index(edges), states

    def _leaf(self, node: tree_sitter.Node, states: States) -> tuple[list[Edge], States]:
        idx, text = self._token(node)
        if node.type == text:  # keyword or punctuation
            return [], states
        if text in states:
            return [(text, idx, "comesFrom", [text], list(states[text]))], states
        if node.type == "identifier":
            states[text] = (idx,)
        return [(text, idx, "comesFrom", [], [])], states

    def _declaration(self, node, states):
        name_field, value_field = self.rules.decl_fields
        name, value = node.child_by_field_name(name_field), node.child_by_field_name(value_field)
        edges: list[Edge] = []
        if value is None:
            for idx, text in self.variables(name):
                edges.append((text, idx, "comesFrom", [], []))
                states[text] = (idx,)
            return _by_index(edges), states
        edges, states = self.walk(value, states)
        sources = self.variables(value)
        for idx, text in self.variables(name):
            edges += [(text, idx, "comesFrom", [t2], [i2]) for i2, t2 in sources]
            states[text] = (idx,)
        return _by_index(edges), states

    def _assign_pairs(self, pairs, states, edges):
        """computedFrom edges for (left, right) pairs: each left variable from all right ones."""
        for left, right in pairs:
            sources = self.variables(right)
            for idx, text in self.variables(left):
                edges.append((text, idx, "computedFrom", [t for _, t in sources], [i for i, _ in sources]))
                states[text] = (idx,)
        return edges, states

    def _split_pairs(self, left, right):
        lefts = [c for c in left.children if c.type != ","]
        rights = [c for c in right.children if c.type != ","]
        if len(lefts) != len(rights) or not lefts:
            return [(left, right)]
        return list(zip(lefts, rights, strict=True))

    def _paired_assignment(self, node, states):
        if node.type == "for_in_clause":
            left, right = node.child_by_field_name("left"), node.children[-1]
            pairs = [(left, right)]
        else:
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if right is None or left is None:
                return [], states
            pairs = self._split_pairs(left, right)
        edges: list[Edge] = []
        for _, rnode in pairs:
            more, states = self.walk(rnode, states)
            edges += more
        edges, states = self._assign_pairs(pairs, states, edges)
        return _by_index(edges), states

    def _assignment(self, node, states):
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        edges, states = self.walk(right, states)
        sources = self.variables(right)
        for idx, text in self.variables(left):
            edges += [(text, idx, "computedFrom", [t2], [i2]) for i2, t2 in sources]
            states[text] = (idx,)
        return _by_index(edges), states

    def _increment(self, node, states):
        names = self.variables(node)
        edges: list[Edge] = []
        for idx, text in names:
            edges += [(text, idx, "computedFrom", [t2], [i2]) for i2, t2 in names]
            states[text] = (idx,)
        return _by_index(edges), states

    def _merge_states(self, branches: list[States]) -> States:
        merged: dict[str, set[int]] = {}
        for branch in branches:
            for key, idxs in branch.items():
                merged.setdefault(key, set()).update(idxs)
        return {key: tuple(sorted(idxs)) for key, idxs in merged.items()}

    def _python_if(self, node, states):
        edges: list[Edge] = []
        current, others = dict(states), []
        has_else = "else" in node.type
        for child in node.children:
            has_else = has_else or "else" in child.type
            if child.type in ("elif_clause", "else_clause"):
                more, branch = self.walk(child, states)
                others.append(branch)
            else:
                more, current = self.walk(child, current)
            edges += more
        others.append(current)
        if not has_else:
            others.append(states)
        return _by_index(edges), self._merge_states(others)

    def _c_if(self, node, states):
        edges: list[Edge] = []
        current, others = dict(states), []
        in_branches = False
        has_else = "else" in node.type
        for child in node.children:
            has_else = has_else or "else" in child.type
            if child.type not in self.rules.ifs and not in_branches:
                more, current = self.walk(child, current)
            else:
                in_branches = True
                more, branch = self.walk(child, states)
                others.append(branch)
            edges += more
        others.append(current)
        if self.rules.if_keeps_old or not has_else:
            others.append(states)
        return _by_index(edges), self._merge_states(others)

    def _python_for(self, node, states):
        edges: list[Edge] = []
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or right is None:
            return self._children(node.children, states)
        for _ in range(2):  # twice: values from the end of the body reach its start
            pairs = self._split_pairs(left, right)
            for _, rnode in pairs:
                more, states = self.walk(rnode, states)
                edges += more
            edges, states = self._assign_pairs(pairs, states, edges)
            if node.children[-1].type == "block":
                more, states = self.walk(node.children[-1], states)
                edges += more
        return _merge_duplicates(edges), states

    def _c_for(self, node, states):
        edges: list[Edge] = []
        for child in node.children:
            more, states = self.walk(child, states)
            edges += more
        after_init = False
        for child in node.children:
            if after_init:
                more, states = self.walk(child, states)
                edges += more
            elif child.type == self.rules.for_decl:
                after_init = True
        return _merge_duplicates(edges), states

    def _foreach(self, node, states):
        name_f, value_f, body_f = self.rules.foreach_fields
        name, value, body = (node.child_by_field_name(f) for f in (name_f, value_f, body_f))
        edges: list[Edge] = []
        for _ in range(2):
            more, states = self.walk(value, states)
            edges += more
            sources = self.variables(value)
            for idx, text in self.variables(name):
                edges += [(text, idx, "computedFrom", [t2], [i2]) for i2, t2 in sources]
                states[text] = (idx,)
            more, states = self.walk(body, states)
            edges += more
        return _merge_duplicates(edges), states

    def _while(self, node, states):
        edges: list[Edge] = []
        for _ in range(2):
            for child in node.children:
                more, states = self.walk(child, states)
                edges += more
        return _merge_duplicates(edges), states


def _by_index(edges: list[Edge]) -> list[Edge]:
    return sorted(edges, key=lambda e: e[1])


def _merge_duplicates(edges: list[Edge]) -> list[Edge]:
    """One edge per (name, index, relation), parents united (after walking a loop twice)."""
    merged: dict[tuple[str, int, str], tuple[list[str], list[int]]] = {}
    for name, idx, rel, names, idxs in edges:
        key = (name, idx, rel)
        if key not in merged:
            merged[key] = (names, idxs)
        else:
            old_names, old_idxs = merged[key]
            merged[key] = (sorted(set(old_names + names)), sorted(set(old_idxs + idxs)))
    return [(k[0], k[1], k[2], v[0], v[1]) for k, v in sorted(merged.items(), key=lambda kv: kv[0][1])]


def data_flow(code: str | ParseResult, language: str) -> list[Edge]:
    """GraphCodeBERT's data flow of `code`: edges of nodes that take part in the flow."""
    result = code if isinstance(code, ParseResult) else parse(code, language)
    rules = RULES.get(result.language)
    if rules is None:
        from codelm.errors import ConfigError

        raise ConfigError(
            f"CodeBLEU data-flow rules exist for {', '.join(supported_languages())}, not '{language}'"
        )
    walker = _Walker(result, rules)
    try:
        edges, _ = walker.walk(result.root, {})
    except RecursionError:  # absurdly deep generated code: no data flow, as the reference does
        edges = []
    edges = _by_index(edges)
    # Keep nodes that have a parent or are one.
    involved = set()
    for _, idx, _, _, parents in edges:
        if parents:
            involved.add(idx)
        involved.update(parents)
    merged: dict[int, Edge] = {}
    for edge in edges:
        if edge[1] not in involved:
            continue
        if edge[1] in merged:
            old = merged[edge[1]]
            edge = (edge[0], edge[1], edge[2], sorted(set(old[3] + edge[3])), sorted(set(old[4] + edge[4])))
        merged[edge[1]] = edge
    return list(merged.values())


def normalize(edges: list[Edge]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Rename variables `var_0, var_1, ...` in order of first appearance (parents first)."""
    names: dict[str, str] = {}
    out = []
    for name, _, rel, parents, _ in edges:
        for parent in parents:
            names.setdefault(parent, f"var_{len(names)}")
        names.setdefault(name, f"var_{len(names)}")
        out.append((names[name], rel, tuple(names[p] for p in parents)))
    return out
