"""Data-flow graphs in GraphCodeBERT's form (Guo et al. 2021).

Nodes are variable occurrences; an edge `src → dst` says the value at `dst`
*comesFrom* the occurrence `src` (a use reached by a definition) or is
*computedFrom* it (a definition assigned from an expression that uses `src`).

The analysis is syntax-directed reaching definitions over the tree-sitter
tree, written here because no maintained library computes data flow for
many languages from tree-sitter trees (GraphCodeBERT ships per-language
scripts, not a library). The state maps each variable to the set of
occurrences whose value may reach the current point:

- assignment `x = e`: `x` is computedFrom every occurrence in `e`; `x += e`
  and `x++` also from the previous definitions of `x`;
- tuple / destructuring assignment pairs targets with values when both sides
  have the same length;
- parameters, loop targets, caught exceptions, imports define names;
- if/else, switch, try: each branch starts from the same state and the
  states are merged, so definitions from both branches reach a later use;
- loops run to a fixpoint, giving loop-carried flow; break, continue,
  return and raise cut a path;
- a call's arguments flow into its result through the enclosing assignment;
- `obj.attr` is a variable of its own (`self.x`, `this.count`; in Java, C#
  and C++ `this.count` is `count`); assigning `a[i] = v` or `*p = v` updates
  `a` / `p` in place (computedFrom `v` and the old value);
- the first use of a name with no definition in sight (a global, builtin or
  import) stands for that value, so later uses come from it (GraphCodeBERT
  does the same).

Occurrences are tree leaves (in PHP a whole `$var`), so each node's character
span lies inside one token of `tokens()`; that is how the data-flow
objective aligns nodes to model tokens. With `literals=True`, string and
number literals become nodes too (GraphCodeBERT's graphs include them; the
CodeBLEU data-flow match is usually computed that way).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import tree_sitter

from codelm.analysis.parsing import (
    ParseResult,
    Source,
    ensure_parsed,
    first_named,
    recursion_room,
    walk,
)
from codelm.analysis.tokens import IDENTIFIER_TYPES, NUMBER_TYPES, STRING_TYPES
from codelm.errors import ConfigError

State = dict[tuple[str, ...], frozenset[int]]
ANY = None  # in a skip table: every child position


@dataclass(frozen=True)
class DFGNode:
    id: int
    name: str
    line: int  # 1-based
    col: int  # 0-based, in characters
    start: int  # character span in the source
    end: int
    role: str  # "def" | "use" | "literal"


@dataclass(frozen=True, order=True)
class DFGEdge:
    src: int
    dst: int
    kind: str  # "comesFrom" | "computedFrom"


@dataclass
class DataFlowGraph:
    language: str
    nodes: list[DFGNode]
    edges: list[DFGEdge]

    def to_json(self, spans: bool = False) -> dict:
        """The documented `--dfg` shape; `spans` adds each node's start/end/role."""
        nodes = []
        for n in self.nodes:
            item = {"id": n.id, "name": n.name, "line": n.line, "col": n.col}
            if spans:
                item.update(start=n.start, end=n.end, role=n.role)
            nodes.append(item)
        return {"language": self.language, "nodes": nodes,
                "edges": [{"src": e.src, "dst": e.dst, "kind": e.kind} for e in self.edges]}

    def parents(self, node_id: int) -> list[DFGEdge]:
        return [e for e in self.edges if e.dst == node_id]

    def items(self) -> list[tuple[str, int, str, list[str], list[int]]]:
        """GraphCodeBERT's tuples: (name, id, relation, parent names, parent ids).

        One tuple per node in source order; a node without parents has
        relation "comesFrom" and empty lists. CodeBLEU's data-flow match keeps
        the tuples that have parents or are someone's parent, renames
        variables by order of appearance and counts reference tuples found in
        the candidate.
        """
        incoming: dict[int, list[DFGEdge]] = {}
        for e in self.edges:
            incoming.setdefault(e.dst, []).append(e)
        out = []
        for n in self.nodes:
            edges = sorted(incoming.get(n.id, []), key=lambda e: e.src)
            kind = "computedFrom" if any(e.kind == "computedFrom" for e in edges) else "comesFrom"
            out.append((n.name, n.id, kind, [self.nodes[e.src].name for e in edges],
                        [e.src for e in edges]))
        return out

    def to_dot(self) -> str:
        lines = ["digraph dfg {", "  rankdir=LR;", '  node [shape=ellipse, fontname="monospace"];']
        for n in self.nodes:
            shape = ", shape=box" if n.role == "def" else (", shape=plaintext" if n.role == "literal" else "")
            label = f"{n.name}\\n{n.line}:{n.col}".replace('"', '\\"')
            lines.append(f'  n{n.id} [label="{label}"{shape}];')
        for e in self.edges:
            style = "solid" if e.kind == "comesFrom" else "dashed"
            lines.append(f'  n{e.src} -> n{e.dst} [label="{e.kind}", style={style}];')
        lines.append("}")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Language tables. Node and field names are the grammars' own.


@dataclass
class _Lang:
    var_types: frozenset[str] = frozenset({"identifier"})
    skip_types: frozenset[str] = frozenset()  # never visited
    skip_fields: frozenset[str] = frozenset({"type"})  # children in these fields never visited
    skip_child: dict[str, frozenset[str] | None] = field(default_factory=dict)  # parent -> fields
    non_var: dict[str, frozenset[str] | None] = field(default_factory=dict)  # var leaves ignored
    members: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # (object, name)
    this_types: frozenset[str] = frozenset({"this"})
    implicit_this: bool = False  # `this.x` is the same variable as `x`
    sep: str = "."
    subscripts: dict[str, str | None] = field(default_factory=dict)  # object field
    derefs: dict[str, str] = field(default_factory=dict)  # `*p` node -> operand field
    calls: dict[str, str] = field(default_factory=dict)  # call node -> callee field
    roles: dict[str, str] = field(default_factory=dict)  # node type -> handler
    defaults: dict[str, tuple[str, str]] = field(default_factory=dict)  # param with default
    def_names: bool = True  # function/class names are variables
    fallthrough: bool = True  # switch cases fall through without break
    switch_breaks: bool = True  # `break` inside a switch leaves the switch
    blank: frozenset[str] = frozenset()  # names that bind nothing (Go's `_`)


_COMMON_SKIP = frozenset({"comment", "line_comment", "block_comment"})
_SEQ_TARGETS = frozenset({
    "pattern_list", "tuple_pattern", "list_pattern", "expression_list", "array_pattern",
    "object_pattern", "left_assignment_list", "destructured_left_assignment", "tuple_expression",
    "list_literal", "tuple", "list", "array",
})
_SEQ_VALUES = frozenset({
    "expression_list", "tuple", "list", "array", "right_assignment_list", "tuple_expression",
    "array_creation_expression",
})
_UNWRAP = frozenset({
    "list_splat_pattern", "rest_pattern", "rest_assignment", "splat_argument", "argument",
    "array_element_initializer", "by_ref", "spread_element", "list_splat", "as_pattern_target",
    "parenthesized_expression", "reference_declarator", "parenthesized_declarator",
})
_DECLARATORS = {"pointer_declarator": "declarator", "array_declarator": "declarator",
                "init_declarator": "declarator"}
_ELIF = frozenset({"elif_clause", "else_if_clause", "elsif"})
_DEFAULT_CASES = frozenset({"switch_default", "default_case", "default_statement", "else"})
_HANDLERS = frozenset({"except_clause", "except_group_clause", "catch_clause", "rescue"})
_FINALLY = frozenset({"finally_clause", "ensure"})
_ELSE = frozenset({"else_clause", "else"})

_C_ROLES = {
    "function_definition": "function", "declaration": "c_declaration",
    "init_declarator": "declarator", "assignment_expression": "assign",
    "update_expression": "update", "if_statement": "if", "while_statement": "while",
    "do_statement": "do", "for_statement": "for_c", "switch_statement": "switch",
    "return_statement": "return", "break_statement": "break", "continue_statement": "continue",
}
_C_SKIP = _COMMON_SKIP | {
    "preproc_include", "preproc_def", "preproc_function_def", "preproc_call", "type_definition",
    "type_descriptor", "enumerator_list", "goto_statement",
    "sizeof_expression", "attribute_specifier", "ms_declspec_modifier", "storage_class_specifier",
    "type_qualifier",
}

LANGS: dict[str, _Lang] = {
    "python": _Lang(
        skip_types=_COMMON_SKIP | {"global_statement", "nonlocal_statement",
                                   "future_import_statement", "type_alias_statement",
                                   "print_statement", "exec_statement"},
        skip_fields=frozenset({"type", "return_type", "type_parameters"}),
        skip_child={"keyword_argument": frozenset({"name"})},
        members={"attribute": ("object", "attribute")},
        this_types=frozenset(),
        subscripts={"subscript": "value"},
        calls={"call": "function"},
        defaults={"default_parameter": ("name", "value"),
                  "typed_default_parameter": ("name", "value")},
        roles={
            "function_definition": "function", "lambda": "function", "class_definition": "class",
            "assignment": "assign", "augmented_assignment": "assign", "named_expression": "walrus",
            "for_statement": "foreach", "while_statement": "while", "if_statement": "if",
            "try_statement": "try", "as_pattern": "as_pattern", "list_comprehension": "comprehension",
            "set_comprehension": "comprehension", "dictionary_comprehension": "comprehension",
            "generator_expression": "comprehension", "return_statement": "return",
            "raise_statement": "return", "break_statement": "break",
            "continue_statement": "continue", "import_statement": "py_import",
            "import_from_statement": "py_import", "match_statement": "switch",
            "case_clause": "py_case",
        },
        fallthrough=False,
        switch_breaks=False,
    ),
    "java": _Lang(
        skip_types=_COMMON_SKIP | {
            "package_declaration", "import_declaration", "marker_annotation", "annotation",
            "modifiers", "type_parameters", "throws", "superclass", "super_interfaces",
            "dimensions", "type_arguments", "class_literal", "catch_type", "extends_interfaces",
            "permits"},
        skip_fields=frozenset({"type", "dimensions", "type_parameters", "type_arguments"}),
        skip_child={"method_invocation": frozenset({"name"})},
        non_var={"labeled_statement": ANY, "method_declaration": ANY,
                 "constructor_declaration": ANY, "class_declaration": ANY,
                 "interface_declaration": ANY, "enum_declaration": ANY,
                 "record_declaration": ANY, "enum_constant": ANY},
        members={"field_access": ("object", "field")},
        implicit_this=True,
        subscripts={"array_access": "array"},
        roles={
            "method_declaration": "function", "constructor_declaration": "function",
            "compact_constructor_declaration": "function", "lambda_expression": "function",
            "class_declaration": "class", "interface_declaration": "class",
            "enum_declaration": "class", "record_declaration": "class",
            "variable_declarator": "declarator", "assignment_expression": "assign",
            "update_expression": "update", "if_statement": "if", "while_statement": "while",
            "do_statement": "do", "for_statement": "for_c", "enhanced_for_statement": "foreach",
            "switch_expression": "switch", "switch_statement": "switch", "try_statement": "try",
            "try_with_resources_statement": "try", "resource": "declarator",
            "return_statement": "return", "throw_statement": "return",
            "break_statement": "break", "continue_statement": "continue",
            "yield_statement": "break",
        },
        def_names=False,
    ),
    "javascript": _Lang(
        var_types=frozenset({"identifier", "shorthand_property_identifier",
                             "shorthand_property_identifier_pattern"}),
        skip_types=_COMMON_SKIP | {"hash_bang_line", "regex", "statement_identifier",
                                   "type_annotation", "type_arguments", "type_parameters"},
        skip_fields=frozenset({"type", "return_type", "type_parameters", "label"}),
        members={"member_expression": ("object", "property")},
        subscripts={"subscript_expression": "object"},
        calls={"call_expression": "function"},
        defaults={"assignment_pattern": ("left", "right")},
        roles={
            "function_declaration": "function", "generator_function_declaration": "function",
            "function_expression": "function", "generator_function": "function",
            "function": "function", "arrow_function": "function", "method_definition": "function",
            "class_declaration": "class", "class": "class",
            "variable_declarator": "declarator", "assignment_expression": "assign",
            "augmented_assignment_expression": "assign", "update_expression": "update",
            "if_statement": "if", "while_statement": "while", "do_statement": "do",
            "for_statement": "for_c", "for_in_statement": "foreach",
            "switch_statement": "switch", "try_statement": "try", "return_statement": "return",
            "throw_statement": "return", "break_statement": "break",
            "continue_statement": "continue", "import_statement": "js_import",
        },
    ),
    "go": _Lang(
        skip_types=_COMMON_SKIP | {"package_clause", "import_declaration", "type_declaration",
                                   "label_name", "type_arguments", "type_parameter_list"},
        skip_fields=frozenset({"type", "result", "type_parameters", "type_arguments", "label"}),
        members={"selector_expression": ("operand", "field")},
        this_types=frozenset(),
        subscripts={"index_expression": "operand", "slice_expression": "operand"},
        derefs={"unary_expression": "operand"},
        calls={"call_expression": "function"},
        roles={
            "function_declaration": "function", "method_declaration": "function",
            "func_literal": "function", "short_var_declaration": "assign",
            "assignment_statement": "assign", "var_spec": "declarator", "const_spec": "declarator",
            "inc_statement": "update", "dec_statement": "update", "if_statement": "if",
            "for_statement": "go_for", "expression_switch_statement": "switch",
            "type_switch_statement": "switch", "select_statement": "switch",
            "return_statement": "return", "break_statement": "break",
            "continue_statement": "continue", "keyed_element": "go_keyed",
        },
        fallthrough=False,
        blank=frozenset({"_"}),
    ),
    "c": _Lang(
        skip_types=_C_SKIP,
        skip_fields=frozenset({"type", "label"}),
        skip_child={"preproc_ifdef": frozenset({"name"}), "preproc_if": frozenset({"condition"}),
                    "preproc_elif": frozenset({"condition"})},
        members={"field_expression": ("argument", "field")},
        this_types=frozenset(),
        subscripts={"subscript_expression": "argument"},
        derefs={"pointer_expression": "argument"},
        calls={"call_expression": "function"},
        roles=dict(_C_ROLES),
    ),
    "cpp": _Lang(
        skip_types=_C_SKIP | {"qualified_identifier", "template_parameter_list",
                              "template_argument_list", "using_declaration", "alias_declaration",
                              "namespace_identifier", "access_specifier", "base_class_clause",
                              "static_assert_declaration", "concept_definition"},
        skip_fields=frozenset({"type", "label"}),
        skip_child={"preproc_ifdef": frozenset({"name"}), "preproc_if": frozenset({"condition"}),
                    "preproc_elif": frozenset({"condition"}),
                    "namespace_definition": frozenset({"name"})},
        members={"field_expression": ("argument", "field")},
        implicit_this=True,
        subscripts={"subscript_expression": "argument"},
        derefs={"pointer_expression": "argument"},
        calls={"call_expression": "function"},
        roles={**_C_ROLES, "for_range_loop": "foreach", "try_statement": "try",
               "throw_statement": "return", "lambda_expression": "function",
               "class_specifier": "class", "struct_specifier": "class",
               "co_return_statement": "return"},
    ),
    "csharp": _Lang(
        var_types=frozenset({"identifier", "implicit_parameter"}),
        skip_types=_COMMON_SKIP | {
            "using_directive", "attribute_list", "type_parameter_list", "type_argument_list",
            "base_list", "type_parameter_constraints_clause", "predefined_type",
            "typeof_expression", "default_expression", "sizeof_expression", "modifier",
            "extern_alias_directive", "preprocessor_call"},
        skip_fields=frozenset({"type", "returns", "type_parameters", "bases"}),
        skip_child={"argument": frozenset({"name"}), "namespace_declaration": frozenset({"name"}),
                    "file_scoped_namespace_declaration": frozenset({"name"}),
                    "labeled_statement": ANY, "goto_statement": ANY},
        non_var={"method_declaration": ANY, "constructor_declaration": ANY,
                 "local_function_statement": ANY, "class_declaration": ANY,
                 "struct_declaration": ANY, "interface_declaration": ANY,
                 "record_declaration": ANY, "enum_declaration": ANY, "generic_name": ANY,
                 "property_declaration": ANY},
        members={"member_access_expression": ("expression", "name")},
        implicit_this=True,
        subscripts={"element_access_expression": "expression"},
        calls={"invocation_expression": "function"},
        roles={
            "method_declaration": "function", "constructor_declaration": "function",
            "local_function_statement": "function", "lambda_expression": "function",
            "anonymous_method_expression": "function", "accessor_declaration": "function",
            "class_declaration": "class", "struct_declaration": "class",
            "interface_declaration": "class", "record_declaration": "class",
            "variable_declarator": "declarator", "assignment_expression": "assign",
            "postfix_unary_expression": "update", "prefix_unary_expression": "update",
            "declaration_expression": "decl_expr", "declaration_pattern": "decl_expr",
            "if_statement": "if", "while_statement": "while", "do_statement": "do",
            "for_statement": "for_c", "foreach_statement": "foreach",
            "switch_statement": "switch", "try_statement": "try", "return_statement": "return",
            "throw_statement": "return", "break_statement": "break",
            "continue_statement": "continue",
        },
        def_names=False,
        fallthrough=False,
        blank=frozenset({"_"}),
    ),
    "ruby": _Lang(
        var_types=frozenset({"identifier", "instance_variable", "class_variable",
                             "global_variable", "constant"}),
        skip_types=_COMMON_SKIP | {"superclass", "alias", "undef"},
        skip_fields=frozenset(),
        skip_child={"call": frozenset({"method"}), "class": frozenset({"name"}),
                    "module": frozenset({"name"}), "scope_resolution": frozenset({"name"})},
        non_var={"method": frozenset({"name"}), "singleton_method": frozenset({"name"})},
        members={"call": ("receiver", "method")},
        this_types=frozenset({"self"}),
        subscripts={"element_reference": "object"},
        defaults={"optional_parameter": ("name", "value"), "keyword_parameter": ("name", "value")},
        roles={
            "method": "function", "singleton_method": "function", "lambda": "function",
            "class": "class", "module": "class", "singleton_class": "class",
            "do_block": "closure_loop", "block": "closure_loop", "assignment": "assign",
            "operator_assignment": "assign", "if": "if", "unless": "if", "elsif": "if",
            "if_modifier": "if", "unless_modifier": "if", "while": "while", "until": "while",
            "while_modifier": "while", "until_modifier": "while", "for": "foreach",
            "case": "switch", "case_match": "switch", "begin": "ruby_body",
            "body_statement": "ruby_body", "return": "return", "break": "break",
            "next": "continue", "call": "ruby_call",
        },
        def_names=False,
        fallthrough=False,
        switch_breaks=False,
    ),
    "php": _Lang(
        var_types=frozenset({"variable_name"}),
        skip_types=_COMMON_SKIP | {"php_tag", "php_end_tag", "text_interpolation", "text",
                                   "namespace_definition", "namespace_use_declaration",
                                   "attribute_list", "named_type", "type_list",
                                   "visibility_modifier", "static_modifier", "final_modifier",
                                   "abstract_modifier", "readonly_modifier", "base_clause",
                                   "class_interface_clause"},
        skip_fields=frozenset({"type", "return_type"}),
        members={"member_access_expression": ("object", "name"),
                 "nullsafe_member_access_expression": ("object", "name")},
        this_types=frozenset(),
        sep="->",
        subscripts={"subscript_expression": None},
        defaults={"simple_parameter": ("name", "default_value")},
        roles={
            "function_definition": "function", "method_declaration": "function",
            "anonymous_function": "function", "arrow_function": "function",
            "class_declaration": "class", "interface_declaration": "class",
            "trait_declaration": "class", "enum_declaration": "class",
            "assignment_expression": "assign", "augmented_assignment_expression": "assign",
            "reference_assignment_expression": "assign", "property_element": "declarator",
            "update_expression": "update", "if_statement": "if", "while_statement": "while",
            "do_statement": "do", "for_statement": "for_c", "foreach_statement": "php_foreach",
            "switch_statement": "switch", "try_statement": "try", "return_statement": "return",
            "throw_expression": "return", "break_statement": "break",
            "continue_statement": "continue", "anonymous_function_use_clause": "skip_in_scope",
        },
        def_names=False,
    ),
}
# TypeScript is JavaScript plus types, which carry no data flow.
LANGS["typescript"] = LANGS["tsx"] = replace(
    LANGS["javascript"],
    skip_types=LANGS["javascript"].skip_types | {
        "type_annotation", "interface_declaration", "type_alias_declaration", "type_arguments",
        "type_parameters", "ambient_declaration", "abstract_method_signature",
        "method_signature", "function_signature", "index_signature", "implements_clause",
        "accessibility_modifier", "override_modifier", "predefined_type", "type_identifier"},
    roles={**LANGS["javascript"].roles, "abstract_class_declaration": "class"},
    defaults={**LANGS["javascript"].defaults, "required_parameter": ("pattern", "value"),
              "optional_parameter": ("pattern", "value")},
)
DFG_LANGUAGES: tuple[str, ...] = tuple(LANGS)

_MAX_PASSES = 3  # reaching definitions reach a fixpoint after two passes of a loop body


@dataclass
class _Frame:
    kind: str  # "loop" | "switch"
    breaks: list[State | None] = field(default_factory=list)
    continues: list[State | None] = field(default_factory=list)


def _merge(states: list[State | None]) -> State | None:
    """Union of states; None (unreachable) is the identity."""
    live = [s for s in states if s is not None]
    if not live:
        return None
    out = dict(live[0])
    for state in live[1:]:
        for key, defs in state.items():
            old = out.get(key)
            out[key] = defs if old is None else old | defs
    return out


class _Builder:
    def __init__(self, result: ParseResult, spec: _Lang, literals: bool) -> None:
        self.r = result
        self.spec = spec
        self.literals = literals
        self.occs: dict[int, tuple[tree_sitter.Node, str, str]] = {}  # start byte -> occurrence
        self.edges: set[tuple[int, int, str]] = set()
        self.state: State | None = {}
        self.frames: list[_Frame] = []
        self.collectors: list[list[int]] = []
        self.path_roots: set[str] = set()  # first names of the `a.b` paths seen

    # ---- occurrences and state ------------------------------------------------------
    def text(self, node: tree_sitter.Node) -> str:
        return self.r.text(node)

    def _occ(self, node: tree_sitter.Node, name: str, role: str) -> int:
        key = node.start_byte
        if key not in self.occs:
            self.occs[key] = (node, name, role)
        if self.collectors and role != "def":
            # Definitions inside a value are not its sources: in `a = b = c`,
            # `a` comes from `c` (not from `b`, which would make chains quadratic).
            self.collectors[-1].append(key)
        return key

    def _live(self) -> State:
        if self.state is None:  # code after return/break: analysed on its own
            self.state = {}
        return self.state

    def use(self, node: tree_sitter.Node, key: tuple[str, ...], name: str) -> None:
        if name in self.spec.blank:
            return
        occ = self._occ(node, name, "use")
        state = self._live()
        defs = state.get(key)
        if defs:
            for d in defs:
                if d != occ:
                    self.edges.add((d, occ, "comesFrom"))
        else:
            state[key] = frozenset((occ,))

    def define(self, node: tree_sitter.Node, key: tuple[str, ...], name: str,
               parents: list[int], update: bool = False) -> None:
        if name in self.spec.blank:
            return
        occ = self._occ(node, name, "def")
        state = self._live()
        sources = list(parents)
        if update:
            sources.extend(state.get(key, ()))
        for p in sources:
            if p != occ:
                self.edges.add((p, occ, "computedFrom"))
        if key[0] in self.path_roots:  # `x = ...` ends what was known about `x.attr`
            n = len(key)
            for other in [k for k in state if len(k) > n and k[:n] == key]:
                del state[other]
        state[key] = frozenset((occ,))

    @contextlib.contextmanager
    def collect(self) -> Iterator[list[int]]:
        """Occurrences created inside the block (the parents of an assignment)."""
        got: list[int] = []
        self.collectors.append(got)
        try:
            yield got
        finally:
            self.collectors.pop()
            if self.collectors:
                self.collectors[-1].extend(got)

    def copy(self) -> State:
        return dict(self._live())

    # ---- generic traversal ----------------------------------------------------------
    def visit(self, node: tree_sitter.Node | None) -> None:
        if node is None or node.is_missing:
            return
        spec = self.spec
        kind = node.type
        if kind in spec.skip_types or "comment" in kind:
            return
        role = spec.roles.get(kind)
        if role is not None:
            getattr(self, "h_" + role)(node)
        elif kind in spec.var_types:
            name = self.text(node)
            self.use(node, (name,), name)
        elif kind in STRING_TYPES or kind in NUMBER_TYPES:
            if self.literals:
                self._occ(node, self.text(node), "literal")
            self.visit_children(node)  # f-string / template interpolations
        elif kind in spec.members:
            self.h_member(node)
        elif kind in spec.calls:
            self.h_call(node)
        else:
            self.visit_children(node)

    def visit_children(self, node: tree_sitter.Node, exclude: tree_sitter.Node | None = None) -> None:
        spec = self.spec
        skip = spec.skip_child.get(node.type, False)
        non_var = spec.non_var.get(node.type, False)
        skip_fields = spec.skip_fields
        for i, child in enumerate(node.named_children):
            if exclude is not None and child.id == exclude.id:
                continue
            name = node.field_name_for_named_child(i)
            if name in skip_fields:
                continue
            if skip is ANY or (skip and name in skip):
                continue
            if child.type in spec.var_types and (non_var is ANY or (non_var and name in non_var)):
                continue
            if self.state is None:  # unreachable code: its own flow, no effect on ours
                self.state = {}
                self.visit(child)
                self.state = None
            else:
                self.visit(child)

    def field(self, node: tree_sitter.Node, name: str) -> tree_sitter.Node | None:
        return node.child_by_field_name(name)

    # ---- member access paths ----------------------------------------------------------
    def path(self, node: tree_sitter.Node):
        """(key, name, member leaf, object node) of `a.b.c` / `this.x`, or None."""
        spec = self.spec
        obj_field, name_field = spec.members[node.type]
        if self.r.language == "ruby" and (self.field(node, "arguments") is not None
                                          or self.field(node, "block") is not None
                                          or self.field(node, "receiver") is None):
            return None
        member = self.field(node, name_field)
        obj = self.field(node, obj_field) if obj_field else first_named(node)
        if obj is None and node.child_count and node.child(0).type in ("this", "base"):
            obj = node.child(0)  # C#: `this` is an unnamed token there
        if member is None or obj is None or member.type not in IDENTIFIER_TYPES:
            return None
        if obj.type in spec.this_types or obj.type == "this":
            base: tuple[str, ...] = () if spec.implicit_this else (self.text(obj),)
            obj_visit = None
        elif obj.type in spec.var_types:
            base, obj_visit = (self.text(obj),), obj
        elif obj.type in spec.members:
            inner = self.path(obj)
            if inner is None:
                return None
            base, obj_visit = inner[0], obj
        else:
            return None
        key = (*base, self.text(member))
        if len(key) > 1:
            self.path_roots.add(key[0])
        return key, spec.sep.join(key), member, obj_visit

    def h_member(self, node: tree_sitter.Node) -> None:
        found = self.path(node)
        if found is None:
            obj_field = self.spec.members[node.type][0]
            obj = self.field(node, obj_field) if obj_field else first_named(node)
            self.visit(obj)
            if self.r.language == "ruby":  # a method call: its arguments and block
                self.visit_children(node, exclude=obj)
            return
        key, name, member, obj = found
        self.visit(obj)
        self.use(member, key, name)

    def h_call(self, node: tree_sitter.Node) -> None:
        callee = self.field(node, self.spec.calls[node.type])
        if callee is not None and callee.type in self.spec.members:
            # `obj.method(...)`: the receiver is used; a method name is no variable
            obj_field = self.spec.members[callee.type][0]
            self.visit(self.field(callee, obj_field) if obj_field else first_named(callee))
        else:
            self.visit(callee)
        self.visit_children(node, exclude=callee)

    def h_ruby_call(self, node: tree_sitter.Node) -> None:
        if self.path(node) is not None:
            self.h_member(node)
        else:
            self.visit(self.field(node, "receiver"))
            self.visit_children(node, exclude=self.field(node, "receiver"))

    # ---- assignment -------------------------------------------------------------------
    def strip(self, node: tree_sitter.Node) -> tree_sitter.Node:
        while node.type in _UNWRAP and node.named_child_count == 1:
            node = first_named(node)
        return node

    def bind(self, target: tree_sitter.Node, value: tree_sitter.Node | None,
             parents: list[int], update: bool = False) -> None:
        """Define the variables of `target` from the occurrences `parents` of `value`."""
        target = self.strip(target)
        if value is not None:
            value = self.strip(value)
        if (value is not None and target.type in _SEQ_TARGETS and value.type in _SEQ_VALUES):
            left = [c for c in target.named_children if "comment" not in c.type]
            right = [c for c in value.named_children if "comment" not in c.type]
            if len(left) == len(right) and len(left) > 0:
                for t, v in zip(left, right, strict=True):
                    sub = [p for p in parents if v.start_byte <= p < v.end_byte]
                    self.bind(t, v, sub, update)
                return
        self.bind_target(target, parents, update)

    def bind_target(self, target: tree_sitter.Node, parents: list[int], update: bool) -> None:
        spec = self.spec
        t = self.strip(target)
        kind = t.type
        if kind in spec.var_types:
            name = self.text(t)
            self.define(t, (name,), name, parents, update)
        elif kind in spec.members:
            found = self.path(t)
            if found is None:
                self.weak(t, parents)
                return
            key, name, member, obj = found
            self.visit(obj)
            self.define(member, key, name, parents, update)
        elif kind in _SEQ_TARGETS:
            for child in t.named_children:
                self.bind_target(child, parents, update)
        elif kind in ("pair_pattern", "pair"):
            value = self.field(t, "value") or (t.named_children[-1] if t.named_child_count else None)
            if value is not None:
                self.bind_target(value, parents, update)
        elif kind in ("assignment_pattern", "object_assignment_pattern"):
            self.visit(self.field(t, "right"))
            self.bind_target(self.field(t, "left"), parents, update)
        elif kind in _DECLARATORS:
            inner = self.field(t, _DECLARATORS[kind])
            for child in t.named_children:  # array sizes are uses
                if inner is None or child.id != inner.id:
                    self.visit(child)
            if inner is not None:
                self.bind_target(inner, parents, update)
        elif kind in spec.subscripts or kind in spec.derefs:
            self.weak(t, parents)
        else:
            self.visit(t)

    def weak(self, node: tree_sitter.Node, parents: list[int]) -> None:
        """`a[i] = v`, `*p = v`, `f().x = v`: update the container in place."""
        spec = self.spec
        node = self.strip(node)
        kind = node.type
        if kind in spec.var_types:
            name = self.text(node)
            self.define(node, (name,), name, parents, update=True)
            return
        if kind in spec.members:
            found = self.path(node)
            if found is not None:
                key, name, member, obj = found
                self.visit(obj)
                self.define(member, key, name, parents, update=True)
                return
            obj_field = spec.members[kind][0]
            container = self.field(node, obj_field) if obj_field else first_named(node)
        elif kind in spec.subscripts:
            obj_field = spec.subscripts[kind]
            container = self.field(node, obj_field) if obj_field else first_named(node)
        elif kind in spec.derefs:
            op = node.child_by_field_name("operator") or (node.children or [None])[0]
            if op is None or self.text(op) != "*":
                self.visit(node)
                return
            container = self.field(node, spec.derefs[kind])
        else:
            self.visit(node)
            return
        if container is None:
            self.visit(node)
            return
        for child in node.named_children:
            if child.id != container.id and kind not in spec.members:
                self.visit(child)  # the index expression
        self.weak(container, parents)

    def _is_update_op(self, node: tree_sitter.Node, left: tree_sitter.Node | None) -> bool:
        op = self.field(node, "operator")
        if op is None:  # the first `...=` token after the target (`x: int = 5` has a `:`)
            for child in node.children:
                if (not child.is_named and child.type.endswith("=")
                        and (left is None or child.start_byte >= left.end_byte)):
                    op = child
                    break
        return op is not None and self.text(op) not in ("=", ":=")

    def h_assign(self, node: tree_sitter.Node) -> None:
        left = self.field(node, "left")
        right = self.field(node, "right")
        if left is None:
            self.visit_children(node)
            return
        if right is None:  # `x: int` declares nothing at run time
            return
        update = node.type in ("augmented_assignment", "operator_assignment",
                               "augmented_assignment_expression") or self._is_update_op(node, left)
        with self.collect() as got:
            self.visit(right)
        self.bind(left, right, got, update)

    def h_walrus(self, node: tree_sitter.Node) -> None:
        value = self.field(node, "value")
        with self.collect() as got:
            self.visit(value)
        self.bind(self.field(node, "name"), value, got)

    def _declarator_value(self, node: tree_sitter.Node) -> tree_sitter.Node | None:
        value = self.field(node, "value") or self.field(node, "default_value")
        if value is None:  # C#: `x = expr` with no field name on the value
            seen_eq = False
            for child in node.children:
                if not child.is_named and self.text(child) == "=":
                    seen_eq = True
                elif seen_eq and child.is_named:
                    return child
        return value

    def h_declarator(self, node: tree_sitter.Node) -> None:
        names = node.children_by_field_name("name") or node.children_by_field_name("declarator")
        value = self._declarator_value(node)
        with self.collect() as got:
            self.visit(value)
        if len(names) == 1:
            self.bind(names[0], value, got)
            return
        values = value.named_children if value is not None and value.type == "expression_list" else []
        for i, name in enumerate(names):  # Go: `var a, b = x, y`
            if len(values) == len(names):
                v = values[i]
                self.bind(name, v, [p for p in got if v.start_byte <= p < v.end_byte])
            else:
                self.bind(name, value, got)

    def h_c_declaration(self, node: tree_sitter.Node) -> None:
        for child in node.children_by_field_name("declarator"):
            if child.type == "init_declarator":
                self.h_declarator(child)
            elif child.type == "function_declarator":
                pass  # a prototype declares a function, not a variable
            else:
                self.bind_target(child, [], False)
        for i, child in enumerate(node.named_children):  # e.g. a struct body in the type is skipped
            if node.field_name_for_named_child(i) not in ("declarator", "type"):
                self.visit(child)

    def h_decl_expr(self, node: tree_sitter.Node) -> None:
        name = self.field(node, "name")
        if name is not None:
            self.bind_target(name, [], False)

    def h_update(self, node: tree_sitter.Node) -> None:
        operand = self.field(node, "argument") or self.field(node, "operand") or first_named(node)
        if node.type.endswith("unary_expression"):  # C#: only ++ and -- write
            op = self.field(node, "operator") or next(
                (c for c in node.children if not c.is_named), None)
            if op is None or self.text(op) not in ("++", "--"):
                self.visit_children(node)
                return
        if operand is not None:
            self.bind_target(operand, [], True)

    # ---- scopes -----------------------------------------------------------------------
    def _func_name(self, node: tree_sitter.Node) -> tree_sitter.Node | None:
        if node.type == "function_definition" and self.r.language in ("c", "cpp"):
            d = self.field(node, "declarator")
            while d is not None and d.type not in self.spec.var_types:
                d = self.field(d, "declarator")
            return d
        name = self.field(node, "name")
        return name if name is not None and name.type in self.spec.var_types else None

    def _func_params(self, node: tree_sitter.Node) -> list[tree_sitter.Node]:
        if self.r.language in ("c", "cpp") and node.type in ("function_definition", "lambda_expression"):
            d = self.field(node, "declarator")
            while d is not None:
                params = self.field(d, "parameters")
                if params is not None:
                    return [params]
                d = self.field(d, "declarator")
            return []
        out = []
        for name in ("receiver", "parameters", "parameter"):
            out.extend(node.children_by_field_name(name))
        return out

    def param(self, node: tree_sitter.Node) -> None:
        spec = self.spec
        kind = node.type
        if kind in spec.var_types:
            name = self.text(node)
            self.define(node, (name,), name, [])
            return
        if kind in spec.defaults:
            name_field, value_field = spec.defaults[kind]
            value = self.field(node, value_field)
            with self.collect() as got:
                self.visit(value)
            target = self.field(node, name_field)
            if target is not None:
                self.bind(target, value, got)
            return
        for name in ("name", "pattern", "declarator"):
            targets = node.children_by_field_name(name)
            if targets:
                for t in targets:
                    self.param(t)
                return
        if kind in ("object_pattern", "array_pattern", "pair_pattern", "assignment_pattern"):
            self.bind_target(node, [], False)
            return
        for i, child in enumerate(node.named_children):
            if node.field_name_for_named_child(i) not in spec.skip_fields \
                    and child.type not in spec.skip_types and "comment" not in child.type:
                self.param(child)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """A nested function or class: sees the enclosing state, changes nothing outside."""
        saved = (self.state, self.frames, self.collectors)
        self.state = dict(saved[0]) if saved[0] is not None else {}
        self.frames, self.collectors = [], []
        try:
            yield
        finally:
            self.state, self.frames, self.collectors = saved

    def h_function(self, node: tree_sitter.Node) -> None:
        name = self._func_name(node) if self.spec.def_names else None
        if name is not None:
            text = self.text(name)
            self.define(name, (text,), text, [])
        for child in node.children:  # PHP `use ($x)`: captured in the enclosing scope
            if child.type == "anonymous_function_use_clause":
                self.visit_children(child)
        with self.scope():
            for params in self._func_params(node):
                self.param(params)
            body = self.field(node, "body")
            if body is None and node.type in ("method_definition", "arrow_function"):
                body = node.named_children[-1] if node.named_child_count else None
            self.visit(body)

    def h_skip_in_scope(self, node: tree_sitter.Node) -> None:
        """Handled by the enclosing function (visited before its scope opens)."""

    def h_class(self, node: tree_sitter.Node) -> None:
        name = self.field(node, "name") if self.spec.def_names else None
        if name is not None and name.type in self.spec.var_types:
            text = self.text(name)
            self.define(name, (text,), text, [])
        self.visit(self.field(node, "superclasses"))
        body = self.field(node, "body")
        with self.scope():
            if body is not None:
                self.visit(body)
            elif self.r.language == "ruby":
                self.visit_children(node)

    def h_closure_loop(self, node: tree_sitter.Node) -> None:
        """Ruby blocks (`xs.each do |v| ... end`) run as loop bodies over the outer scope."""
        params = self.field(node, "parameters")
        body = self.field(node, "body")
        self.loop(targets=(lambda: self.param(params)) if params is not None else None,
                  body=body, exits_at_head=True)

    # ---- control flow -----------------------------------------------------------------
    def _if_arms(self, node: tree_sitter.Node) -> list[tuple[tree_sitter.Node | None, tree_sitter.Node | None]]:
        cond = self.field(node, "condition")
        then = self.field(node, "consequence") or self.field(node, "body")
        arms: list = [(cond, then)]
        for alt in node.children_by_field_name("alternative"):
            if alt.type in _ELIF:
                arms.extend(self._if_arms(alt))
            else:
                arms.append((None, alt))
                break
        return arms

    def h_if(self, node: tree_sitter.Node) -> None:
        self.visit(self.field(node, "initializer"))
        outs: list[State | None] = []
        has_else = False
        for cond, body in self._if_arms(node):
            if cond is None:
                has_else = True
            else:
                self.visit(cond)
            before = self.copy()
            self.visit(body)
            outs.append(self.state)
            self.state = before
            if has_else:
                break
        if not has_else:
            outs.append(self.state)
        self.state = _merge(outs)

    def loop(self, *, test: tree_sitter.Node | None = None, targets=None,
             body: tree_sitter.Node | None = None, update: list | tuple = (),
             orelse: tree_sitter.Node | None = None, test_after: bool = False,
             exits_at_head: bool = False) -> None:
        """Run a loop body to a fixpoint; the state after it merges every exit.

        `test` is evaluated before each pass (after it with `test_after`);
        `targets()` binds the loop variables at the head of each pass;
        `exits_at_head` says the loop may end at its head (for-each loops).
        """
        entry = self.copy()
        back: State | None = None
        head: State | None = None
        normal_exit: State | None = None
        breaks: list[State | None] = []
        for _ in range(_MAX_PASSES):
            new_head = _merge([entry, back])
            if head is not None and new_head == head:
                break
            head = new_head
            self.state = dict(head)
            if exits_at_head:
                normal_exit = _merge([normal_exit, self.copy()])
            if test is not None and not test_after:
                self.visit(test)
                normal_exit = _merge([normal_exit, self.copy()])
            frame = _Frame("loop")
            self.frames.append(frame)
            if targets is not None:
                targets()
            self.visit(body)
            self.frames.pop()
            self.state = _merge([self.state, *frame.continues])
            if self.state is not None:
                if test is not None and test_after:
                    self.visit(test)
                    normal_exit = _merge([normal_exit, self.copy()])
                for u in update:
                    self.visit(u)
            breaks.extend(frame.breaks)
            back = self.state
        self.state = normal_exit
        if orelse is not None and normal_exit is not None:
            self.visit(orelse)
        self.state = _merge([self.state, *breaks])

    def h_while(self, node: tree_sitter.Node) -> None:
        orelse = self.field(node, "alternative")
        self.loop(test=self.field(node, "condition"), body=self.field(node, "body"), orelse=orelse)

    def h_do(self, node: tree_sitter.Node) -> None:
        self.loop(test=self.field(node, "condition"), body=self.field(node, "body"), test_after=True)

    def h_for_c(self, node: tree_sitter.Node) -> None:
        for name in ("init", "initializer", "initialize"):
            for child in node.children_by_field_name(name):
                self.visit(child)
        updates = [c for n in ("update", "increment") for c in node.children_by_field_name(n)]
        cond = self.field(node, "condition")
        self.loop(test=cond, body=self.field(node, "body"), update=updates,
                  exits_at_head=cond is None)

    def _foreach(self, target, iterable, body, orelse=None) -> None:
        with self.collect() as got:
            self.visit(iterable)
        parents = list(got)
        self.loop(targets=(lambda: self.bind(target, None, parents)) if target is not None else None,
                  body=body, orelse=orelse, exits_at_head=True)

    def h_foreach(self, node: tree_sitter.Node) -> None:
        target = (self.field(node, "left") or self.field(node, "name")
                  or self.field(node, "pattern") or self.field(node, "declarator"))
        iterable = self.field(node, "right") or self.field(node, "value")
        if iterable is not None and iterable.type == "in":  # Ruby `for x in xs`
            iterable = first_named(iterable)
        self._foreach(target, iterable, self.field(node, "body"), self.field(node, "alternative"))

    def h_php_foreach(self, node: tree_sitter.Node) -> None:
        body = self.field(node, "body")
        parts = [c for c in node.named_children if body is None or c.id != body.id]
        parts = [c for c in parts if "comment" not in c.type]
        if not parts:
            return
        iterable, targets = parts[0], parts[1:]
        if len(targets) == 1 and targets[0].type == "pair":  # `$k => $v`: both are bound
            targets = targets[0].named_children

        def bind_all() -> None:
            for t in targets:
                self.bind(t, None, parents)

        with self.collect() as got:
            self.visit(iterable)
        parents = list(got)
        self.loop(targets=bind_all, body=body, exits_at_head=True)

    def h_go_for(self, node: tree_sitter.Node) -> None:
        body = self.field(node, "body")
        header = next((c for c in node.named_children if body is None or c.id != body.id), None)
        if header is None:  # `for { ... }`
            self.loop(body=body)
        elif header.type == "for_clause":
            self.h_for_c_clause(header, body)
        elif header.type == "range_clause":
            self._foreach(self.field(header, "left"), self.field(header, "right"), body)
        else:  # `for cond { ... }`
            self.loop(test=header, body=body)

    def h_for_c_clause(self, clause: tree_sitter.Node, body: tree_sitter.Node | None) -> None:
        self.visit(self.field(clause, "initializer"))
        update = self.field(clause, "update")
        cond = self.field(clause, "condition")
        self.loop(test=cond, body=body, update=[update] if update is not None else [],
                  exits_at_head=cond is None)

    def _is_default(self, case: tree_sitter.Node) -> bool:
        if case.type in _DEFAULT_CASES:
            return True
        for child in case.children[:3]:
            if child.type == "default" or (child.type == "switch_label"
                                           and self.text(child).startswith("default")):
                return True
            if child.type == "case_pattern" and self.text(child) == "_":
                return True
        return False

    def h_switch(self, node: tree_sitter.Node) -> None:
        self.visit(self.field(node, "initializer"))
        subject = (self.field(node, "value") or self.field(node, "condition")
                   or self.field(node, "subject"))
        self.visit(subject)
        body = self.field(node, "body")
        container = body if body is not None else node
        skip = {n.id for n in (subject, self.field(node, "initializer")) if n is not None}
        cases = [c for c in container.named_children
                 if c.id not in skip and "comment" not in c.type]
        entry = self.copy()
        frame = _Frame("switch")
        if self.spec.switch_breaks:  # `break` leaves the switch (not in Python/Ruby)
            self.frames.append(frame)
        outs: list[State | None] = []
        carry: State | None = None
        has_default = False
        for case in cases:
            has_default = has_default or self._is_default(case)
            falls = self.spec.fallthrough and case.type != "switch_rule"
            self.state = _merge([dict(entry), carry]) if falls else dict(entry)
            self.visit(case)
            if falls:
                carry = self.state
            else:
                outs.append(self.state)
        if self.spec.switch_breaks:
            self.frames.pop()
        outs.append(carry)
        if not has_default:
            outs.append(entry)
        self.state = _merge(outs + frame.breaks)

    def h_py_case(self, node: tree_sitter.Node) -> None:
        for child in node.named_children:
            if child.type == "case_pattern":
                self._capture(child)
            else:
                self.visit(child)

    def _capture(self, pattern: tree_sitter.Node) -> None:
        """Python `case` patterns: a bare name captures, a dotted name is a value."""
        if pattern.type == "dotted_name":
            if pattern.named_child_count == 1 and self.text(pattern) != "_":
                self.bind_target(first_named(pattern), [], False)
            else:
                self.visit(pattern)
            return
        for child in pattern.named_children:
            self._capture(child)

    def _try(self, body: list[tree_sitter.Node], handlers: list[tree_sitter.Node],
             orelse: tree_sitter.Node | None, final: tree_sitter.Node | None) -> None:
        # A handler may start after any statement of the body: keep a copy of
        # the state after each (the state dict itself changes as we go).
        snapshots = [self.copy()]
        statements = []
        for stmt in body:
            if stmt.type in ("block", "compound_statement", "statement_block"):
                statements.extend(stmt.named_children)
            else:
                statements.append(stmt)
        for stmt in statements:
            self.visit_children_of_list([stmt])
            if self.state is not None:
                snapshots.append(dict(self.state))
        reach_handler = _merge(snapshots)
        if orelse is not None and self.state is not None:
            self.visit(orelse)
        outs = [self.state]
        for handler in handlers:
            self.state = dict(reach_handler) if reach_handler is not None else {}
            self.h_handler(handler)
            outs.append(self.state)
        normal = _merge(outs)
        if final is not None:
            # The finally block runs after an exception too (for its own uses),
            # but only the normal paths continue after the statement.
            self.state = dict(reach_handler) if reach_handler is not None else {}
            self.visit(final)
            self.state = normal
            if normal is not None:
                self.visit(final)
        else:
            self.state = normal

    def visit_children_of_list(self, nodes: list[tree_sitter.Node]) -> None:
        for n in nodes:
            if "comment" in n.type:
                continue
            if self.state is None:
                self.state = {}
                self.visit(n)
                self.state = None
            else:
                self.visit(n)

    def h_handler(self, node: tree_sitter.Node) -> None:
        for i, child in enumerate(node.named_children):
            name = node.field_name_for_named_child(i)
            if name in ("parameter", "parameters", "variable") or child.type in (
                    "catch_formal_parameter", "catch_declaration"):
                self.param(child)
            elif name == "name" and child.type in self.spec.var_types:
                self.param(child)  # PHP `catch (E $e)`
            elif name in self.spec.skip_fields or child.type in self.spec.skip_types:
                continue
            elif name != "exceptions" and child.type not in ("catch_type",):
                self.visit(child)

    def h_try(self, node: tree_sitter.Node) -> None:
        for resources in node.children_by_field_name("resources"):
            self.visit(resources)
        body = self.field(node, "body")
        handlers, orelse, final = [], None, None
        for child in node.named_children:
            if child.type in _HANDLERS:
                handlers.append(child)
            elif child.type in _FINALLY:
                final = child
            elif child.type in _ELSE:
                orelse = child
        self._try([body] if body is not None else [], handlers, orelse, final)

    def h_ruby_body(self, node: tree_sitter.Node) -> None:
        """`begin ... rescue ... else ... ensure ... end` (also a method body)."""
        kinds = {c.type for c in node.named_children}
        if not kinds & {"rescue", "ensure"}:
            self.visit_children(node)
            return
        body = [c for c in node.named_children if c.type not in ("rescue", "else", "ensure")]
        handlers = [c for c in node.named_children if c.type == "rescue"]
        orelse = next((c for c in node.named_children if c.type == "else"), None)
        final = next((c for c in node.named_children if c.type == "ensure"), None)
        self._try(body, handlers, orelse, final)

    def h_return(self, node: tree_sitter.Node) -> None:
        self.visit_children(node)
        self.state = None

    def h_break(self, node: tree_sitter.Node) -> None:
        self.visit_children(node)
        for frame in reversed(self.frames):
            frame.breaks.append(self.state)
            break
        self.state = None

    def h_continue(self, node: tree_sitter.Node) -> None:
        for frame in reversed(self.frames):
            if frame.kind == "loop":
                frame.continues.append(self.state)
                break
        self.state = None

    # ---- Python / JS / Go specifics ----------------------------------------------------
    def h_as_pattern(self, node: tree_sitter.Node) -> None:
        alias = self.field(node, "alias")
        value = next((c for c in node.named_children if alias is None or c.id != alias.id), None)
        with self.collect() as got:
            self.visit(value)
        if alias is not None:
            self.bind(alias, None, got)

    def h_comprehension(self, node: tree_sitter.Node) -> None:
        """`[f(x) for x in xs if x]`: clauses first, then the element; names stay inside."""
        saved = self.state
        self.state = self.copy()
        body = self.field(node, "body")
        for child in node.named_children:
            if child.type == "for_in_clause":
                right = self.field(child, "right")
                with self.collect() as got:
                    self.visit(right)
                self.bind(self.field(child, "left"), None, got)
            elif body is None or child.id != body.id:
                self.visit(child)
        self.visit(body)
        self.state = saved

    def h_py_import(self, node: tree_sitter.Node) -> None:
        module = self.field(node, "module_name")
        for child in node.children_by_field_name("name"):
            if module is not None and child.id == module.id:
                continue
            if child.type == "aliased_import":
                target = self.field(child, "alias")
            else:
                target = first_named(child) if child.type == "dotted_name" else child
            if target is not None and target.type in self.spec.var_types:
                self.bind_target(target, [], False)

    def h_js_import(self, node: tree_sitter.Node) -> None:
        for child in walk(node):
            if child.type == "import_specifier":
                target = self.field(child, "alias") or self.field(child, "name")
                if target is not None and target.type == "identifier":
                    self.bind_target(target, [], False)
            elif child.type == "identifier" and child.parent is not None and child.parent.type in (
                    "import_clause", "namespace_import"):
                self.bind_target(child, [], False)

    def h_go_keyed(self, node: tree_sitter.Node) -> None:
        """`S{Name: v}`: a struct field key is no variable; the value is used."""
        children = node.named_children
        if len(children) == 2 and self.text(children[0]).isidentifier():
            self.visit(children[1])
        else:
            self.visit_children(node)

    def run(self) -> DataFlowGraph:
        self.visit(self.r.root)
        keys = sorted(self.occs)
        ids = {k: i for i, k in enumerate(keys)}
        nodes = []
        for k in keys:
            node, name, role = self.occs[k]
            line, col = self.r.start(node)
            start, end = self.r.span(node)
            nodes.append(DFGNode(ids[k], name, line, col, start, end, role))
        edges = [DFGEdge(*e) for e in sorted((ids[s], ids[d], kind) for s, d, kind in self.edges)]
        return DataFlowGraph(self.r.language, nodes, edges)


def data_flow(source: Source, language: str | None = None, *, literals: bool = False) -> DataFlowGraph:
    """The data-flow graph of a file or snippet (see the module docstring)."""
    result = ensure_parsed(source, language)
    spec = LANGS.get(result.language)
    if spec is None:
        raise ConfigError(
            f"no data-flow analysis for '{result.language}'; supported: {', '.join(DFG_LANGUAGES)}")
    with recursion_room("data flow"):
        return _Builder(result, spec, literals).run()
