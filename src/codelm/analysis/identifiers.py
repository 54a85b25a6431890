"""Identifier occurrences grouped by name, each marked definition or use.

A definition is an occurrence that binds or assigns the name: a function,
class, method, field or variable declaration, a parameter, an assignment
target, a loop variable, an imported name, a caught exception. CodeT5's masked
identifier prediction replaces every occurrence of one name with the same
sentinel (Wang et al. 2021); the grouping here is what it needs.

Rules are data: per language, the (node type → fields) that hold the
defined name(s). A field's subtree is resolved through patterns (tuples,
destructuring), C declarators (`*p`, `a[]`) and member targets (`self.x`
defines `x`).
"""

from __future__ import annotations

from typing import NamedTuple

import tree_sitter

from codelm.analysis.parsing import ParseResult, Source, ensure_parsed, first_named, walk
from codelm.analysis.tokens import IDENTIFIER_TYPES, tokens

ALL = None  # every named child of the node is a definition target

_RULES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "python": {
        "function_definition": ("name",), "class_definition": ("name",),
        "parameters": ALL, "lambda_parameters": ALL,
        "assignment": ("left",), "augmented_assignment": ("left",),
        "for_statement": ("left",), "for_in_clause": ("left",), "named_expression": ("name",),
        "as_pattern_target": ALL, "aliased_import": ("alias",),
        "import_statement": ("name",), "import_from_statement": ("name",),
    },
    "java": {
        "class_declaration": ("name",), "interface_declaration": ("name",),
        "enum_declaration": ("name",), "record_declaration": ("name",),
        "annotation_type_declaration": ("name",), "enum_constant": ("name",),
        "method_declaration": ("name",), "constructor_declaration": ("name",),
        "variable_declarator": ("name",), "formal_parameter": ("name",),
        "spread_parameter": ALL, "catch_formal_parameter": ("name",),
        "enhanced_for_statement": ("name",), "assignment_expression": ("left",),
        "lambda_expression": ("parameters",), "inferred_parameters": ALL,
        "resource": ("name",),
    },
    "javascript": {
        "function_declaration": ("name",), "generator_function_declaration": ("name",),
        "function_expression": ("name",), "class_declaration": ("name",), "class": ("name",),
        "method_definition": ("name",), "field_definition": ("property",),
        "variable_declarator": ("name",), "assignment_expression": ("left",),
        "augmented_assignment_expression": ("left",), "formal_parameters": ALL,
        "arrow_function": ("parameter",), "for_in_statement": ("left",),
        "catch_clause": ("parameter",), "import_clause": ALL, "namespace_import": ALL,
    },
    "go": {
        "function_declaration": ("name",), "method_declaration": ("name",),
        "parameter_declaration": ("name",), "variadic_parameter_declaration": ("name",),
        "short_var_declaration": ("left",), "assignment_statement": ("left",),
        "var_spec": ("name",), "const_spec": ("name",), "range_clause": ("left",),
        "type_spec": ("name",), "type_alias": ("name",), "field_declaration": ("name",),
        "import_spec": ("name",), "labeled_statement": ("label",),
    },
    "rust": {
        "function_item": ("name",), "function_signature_item": ("name",),
        "let_declaration": ("pattern",), "parameter": ("pattern",), "closure_parameters": ALL,
        "for_expression": ("pattern",), "struct_item": ("name",), "enum_item": ("name",),
        "union_item": ("name",), "trait_item": ("name",), "type_item": ("name",),
        "const_item": ("name",), "static_item": ("name",), "mod_item": ("name",),
        "field_declaration": ("name",), "enum_variant": ("name",), "macro_definition": ("name",),
        "assignment_expression": ("left",), "compound_assignment_expr": ("left",),
        "let_condition": ("pattern",),
    },
    "c": {
        "function_declarator": ("declarator",), "init_declarator": ("declarator",),
        "declaration": ("declarator",), "parameter_declaration": ("declarator",),
        "field_declaration": ("declarator",), "type_definition": ("declarator",),
        "enumerator": ("name",), "assignment_expression": ("left",),
        "preproc_def": ("name",), "preproc_function_def": ("name",),
        "struct_specifier": ("name",), "union_specifier": ("name",), "enum_specifier": ("name",),
    },
    "csharp": {
        "class_declaration": ("name",), "struct_declaration": ("name",),
        "interface_declaration": ("name",), "record_declaration": ("name",),
        "enum_declaration": ("name",), "enum_member_declaration": ("name",),
        "method_declaration": ("name",), "constructor_declaration": ("name",),
        "local_function_statement": ("name",), "property_declaration": ("name",),
        "variable_declarator": ("name",), "parameter": ("name",),
        "foreach_statement": ("left",), "catch_declaration": ("name",),
        "assignment_expression": ("left",), "lambda_expression": ("parameters",),
        "declaration_expression": ("name",), "namespace_declaration": ("name",),
    },
    "ruby": {
        "method": ("name",), "singleton_method": ("name",), "class": ("name",),
        "module": ("name",), "assignment": ("left",), "operator_assignment": ("left",),
        "method_parameters": ALL, "block_parameters": ALL, "lambda_parameters": ALL,
        "for": ("pattern",), "exception_variable": ALL,
    },
    "php": {
        "function_definition": ("name",), "method_declaration": ("name",),
        "class_declaration": ("name",), "interface_declaration": ("name",),
        "trait_declaration": ("name",), "enum_declaration": ("name",),
        "simple_parameter": ("name",), "variadic_parameter": ("name",),
        "property_promotion_parameter": ("name",), "assignment_expression": ("left",),
        "augmented_assignment_expression": ("left",),
        "reference_assignment_expression": ("left",), "catch_clause": ("name",),
        "property_element": ("name",), "static_variable_declaration": ("name",),
        "global_declaration": ALL, "const_element": ALL, "foreach_statement": ALL,
    },
}
_RULES["typescript"] = {
    **_RULES["javascript"],
    "required_parameter": ("pattern",), "optional_parameter": ("pattern",),
    "public_field_definition": ("name",), "interface_declaration": ("name",),
    "type_alias_declaration": ("name",), "enum_declaration": ("name",),
    "abstract_class_declaration": ("name",), "function_signature": ("name",),
    "abstract_method_signature": ("name",), "method_signature": ("name",),
    "internal_module": ("name",),
}
_RULES["tsx"] = _RULES["typescript"]
_RULES["cpp"] = {
    **_RULES["c"],
    "class_specifier": ("name",), "namespace_definition": ("name",),
    "for_range_loop": ("declarator",), "alias_declaration": ("name",),
    "optional_parameter_declaration": ("declarator",), "concept_definition": ("name",),
}

# Where a resolved subtree's definition target lives (patterns and wrappers).
_ONLY_FIELD: dict[str, tuple[str, ...]] = {
    "init_declarator": ("declarator",), "function_declarator": ("declarator",),
    "pointer_declarator": ("declarator",), "array_declarator": ("declarator",),
    "parenthesized_declarator": (), "reference_declarator": (),
    "qualified_identifier": ("name",), "assignment_pattern": ("left",),
    "object_assignment_pattern": ("left",), "pair_pattern": ("value",),
    "variable_declarator": ("name",), "default_parameter": ("name",),
    "typed_default_parameter": ("name",), "optional_parameter": ("name", "pattern"),
    "keyword_parameter": ("name",), "splat_parameter": ("name",),
    "hash_splat_parameter": ("name",), "block_parameter": ("name",),
    "simple_parameter": ("name",), "formal_parameter": ("name",),
    "parameter": ("name", "pattern"), "keyed_element": (), "field_pattern": ("pattern", "name"),
    "variadic_parameter": ("name",), "required_parameter": ("pattern",),
}
_PATTERNS = frozenset({
    "pattern_list", "tuple_pattern", "list_pattern", "list_splat_pattern",
    "dictionary_splat_pattern", "typed_parameter", "parenthesized_expression", "expression_list",
    "array_pattern", "object_pattern", "rest_pattern", "left_assignment_list",
    "destructured_left_assignment", "rest_assignment", "tuple_expression", "argument",
    "list_literal", "array_element_initializer", "by_ref", "ref_pattern", "mut_pattern",
    "reference_pattern", "tuple_struct_pattern", "struct_pattern", "slice_pattern",
    "captured_pattern", "or_pattern", "as_pattern_target", "dotted_name", "parameters",
    "formal_parameters", "lambda_parameters", "inferred_parameters", "parameter_list",
    "method_parameters", "block_parameters", "closure_parameters", "exception_variable",
    "spread_parameter", "named_imports", "import_specifier", "tuple", "list", "pair",
    "variable_declaration", "parenthesized_pattern", "self_parameter", "implicit_parameter",
    "array", "object",
})
# member access: node type -> field holding the member name
_MEMBERS = {
    "attribute": "attribute", "field_access": "field", "member_expression": "property",
    "selector_expression": "field", "field_expression": "field",
    "member_access_expression": "name", "scoped_property_access_expression": "name",
    "nullsafe_member_access_expression": "name",
}
_SKIP_FIELDS = frozenset({"type", "value", "default_value", "right", "body", "return_type",
                          "arguments", "parameters_type", "dimensions", "index", "subscript",
                          "size"})


class Occurrence(NamedTuple):
    """One occurrence of an identifier; offsets as in `CodeToken`."""

    name: str
    start: int
    end: int
    line: int
    col: int
    definition: bool
    node_type: str

    def to_json(self) -> dict:
        return {"name": self.name, "start": self.start, "end": self.end, "line": self.line,
                "col": self.col, "definition": self.definition, "type": self.node_type}


def _resolve(node: tree_sitter.Node, language: str, out: set[int]) -> None:
    """Collect start bytes of the name leaves a definition target binds."""
    kind = node.type
    if kind in IDENTIFIER_TYPES:
        out.add(node.start_byte)
        return
    if kind == "dotted_name":  # `import a.b` binds `a`; `from m import c` binds `c`
        first = first_named(node)
        if first is not None:
            out.add(first.start_byte)
        return
    if kind in _MEMBERS:
        field = node.child_by_field_name(_MEMBERS[kind])
        if field is not None and field.type in IDENTIFIER_TYPES:
            out.add(field.start_byte)
        return
    if language == "ruby" and kind == "call" and node.child_by_field_name("arguments") is None:
        method = node.child_by_field_name("method")  # `self.total = x` assigns `total`
        if method is not None:
            out.add(method.start_byte)
        return
    if kind == "import_specifier":
        target = node.child_by_field_name("alias") or node.child_by_field_name("name")
        if target is not None:
            out.add(target.start_byte)
        return
    if _ONLY_FIELD.get(kind):
        for field in _ONLY_FIELD[kind]:
            child = node.child_by_field_name(field)
            if child is not None:
                _resolve(child, language, out)
                return
        if kind not in _PATTERNS:
            return
    if kind in _PATTERNS or kind in _ONLY_FIELD:
        for i, child in enumerate(node.named_children):
            if node.field_name_for_named_child(i) not in _SKIP_FIELDS:
                _resolve(child, language, out)


def definition_bytes(result: ParseResult) -> set[int]:
    """Start bytes of every identifier occurrence that is a definition."""
    rules = _RULES[result.language]
    found: set[int] = set()
    for node in walk(result.root):
        fields = rules.get(node.type, False)
        if fields is False:
            continue
        if node.type.endswith("_specifier") and node.child_by_field_name("body") is None:
            continue  # `struct S s;` uses S; only `struct S {...}` defines it
        if node.type == "foreach_statement" and result.language == "php":
            # `foreach ($xs as $k => $v)`: everything after the iterable but the body
            body = node.child_by_field_name("body")
            for child in node.named_children[1:]:
                if body is None or child.id != body.id:
                    _resolve(child, result.language, found)
            continue
        if fields is ALL:
            for child in node.named_children:
                _resolve(child, result.language, found)
            continue
        for name in fields:
            for child in node.children_by_field_name(name):
                _resolve(child, result.language, found)
    return found


def identifiers(source: Source, language: str | None = None) -> dict[str, list[Occurrence]]:
    """Identifier occurrences grouped by name, names in order of first appearance."""
    result = ensure_parsed(source, language)
    defs = definition_bytes(result)
    groups: dict[str, list[Occurrence]] = {}
    for tok in tokens(result):
        if tok.kind != "identifier":
            continue
        groups.setdefault(tok.text, []).append(Occurrence(
            tok.text, tok.start, tok.end, tok.line, tok.col, tok.start_byte in defs, tok.node_type))
    return groups
