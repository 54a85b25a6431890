"""Functions, methods and classes with their signature, body and documentation.

This feeds code ↔ text pairs (code search, summarisation): the docstring (a
Python docstring, or the comment right above the definition: Javadoc, `///`,
`#`...) is the text, the definition is the code. `docstring_span` lets a
caller cut the docstring out of the code, as CodeSearchNet did.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass

import tree_sitter

from codelm.analysis.parsing import ParseResult, Source, ensure_parsed, first_named, walk

# node type -> "function" | "class"; a function directly inside a class is a method
_DEFS: dict[str, dict[str, str]] = {
    "python": {"function_definition": "function", "class_definition": "class"},
    "java": {"method_declaration": "function", "constructor_declaration": "function",
             "class_declaration": "class", "interface_declaration": "class",
             "enum_declaration": "class", "record_declaration": "class"},
    "javascript": {"function_declaration": "function", "generator_function_declaration": "function",
                   "function_expression": "function", "arrow_function": "function",
                   "method_definition": "function", "class_declaration": "class", "class": "class"},
    "go": {"function_declaration": "function", "method_declaration": "function",
           "type_spec": "class"},
    "rust": {"function_item": "function", "struct_item": "class", "enum_item": "class",
             "trait_item": "class", "union_item": "class"},
    "c": {"function_definition": "function", "struct_specifier": "class",
          "union_specifier": "class"},
    "csharp": {"method_declaration": "function", "constructor_declaration": "function",
               "local_function_statement": "function", "class_declaration": "class",
               "struct_declaration": "class", "interface_declaration": "class",
               "record_declaration": "class", "enum_declaration": "class"},
    "ruby": {"method": "function", "singleton_method": "function", "class": "class",
             "module": "class"},
    "php": {"function_definition": "function", "method_declaration": "function",
            "class_declaration": "class", "interface_declaration": "class",
            "trait_declaration": "class", "enum_declaration": "class"},
}
_DEFS["typescript"] = {**_DEFS["javascript"], "abstract_class_declaration": "class",
                       "interface_declaration": "class"}
_DEFS["tsx"] = _DEFS["typescript"]
_DEFS["cpp"] = {**_DEFS["c"], "class_specifier": "class"}

# Containers that make a nested function a method (besides class kinds above).
_METHOD_CONTAINERS = frozenset({"impl_item", "trait_item"})
# Wrappers whose preceding comment documents the definition inside them.
_WRAPPERS = frozenset({"decorated_definition", "export_statement", "template_declaration"})
_ANONYMOUS = frozenset({"function_expression", "arrow_function", "class"})


@dataclass(frozen=True)
class FunctionInfo:
    """A function, method or class. Lines are 1-based and inclusive; `start`
    and `end` are character offsets of the whole definition (decorators
    included)."""

    name: str
    qualname: str  # `Outer.method`
    kind: str  # "function" | "method" | "class"
    signature: str
    body: str
    docstring: str | None
    docstring_span: tuple[int, int] | None
    start_line: int
    end_line: int
    start: int
    end: int
    code: str

    def to_json(self) -> dict:
        return {"name": self.name, "qualname": self.qualname, "kind": self.kind,
                "signature": self.signature, "docstring": self.docstring,
                "start_line": self.start_line, "end_line": self.end_line,
                "start": self.start, "end": self.end, "body": self.body}


def _declarator_name(node: tree_sitter.Node | None, result: ParseResult) -> str | None:
    """C/C++: `int *(*f)(void)` → `f`; `A::f` → `A::f`."""
    while node is not None:
        if node.type in ("identifier", "field_identifier", "qualified_identifier",
                         "destructor_name", "operator_name", "type_identifier"):
            return result.text(node)
        node = node.child_by_field_name("declarator") or (
            first_named(node) if node.type in ("reference_declarator", "parenthesized_declarator")
            else None)
    return None


def _name(node: tree_sitter.Node, result: ParseResult) -> str | None:
    if result.language in ("c", "cpp") and node.type == "function_definition":
        return _declarator_name(node.child_by_field_name("declarator"), result)
    name = node.child_by_field_name("name")
    if name is not None:
        return result.text(name)
    if node.type in _ANONYMOUS:
        # `const f = () => ...`, `obj.f = function () {...}`, `{f: () => ...}`
        parent = node.parent
        while parent is not None and parent.type == "parenthesized_expression":
            parent = parent.parent
        if parent is not None:
            for field in ("name", "left", "key"):
                target = parent.child_by_field_name(field)
                if target is not None and target.id != node.id:
                    return result.text(target)
    return None


def _body(node: tree_sitter.Node) -> tree_sitter.Node | None:
    body = node.child_by_field_name("body")
    if body is None and node.type == "type_spec":
        body = node.child_by_field_name("type")
    return body


_COMMENT_MARKS = re.compile(r"^\s*(?:/\*\*?|\*/|\*(?!/)|///?|#+|--)?", re.M)


def _clean_comment(text: str) -> str:
    text = text.strip()
    if text.endswith("*/"):
        text = text[:-2]
    lines = [_COMMENT_MARKS.sub("", line, count=1) for line in text.splitlines()]
    return inspect.cleandoc("\n".join(lines)).strip()


def _python_docstring(body: tree_sitter.Node, result: ParseResult):
    first = first_named(body)
    while first is not None and first.type == "comment":
        first = first.next_named_sibling
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return None
    string = first_named(first)
    if string.type != "string":
        return None
    raw = result.text(string)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):  # f-strings are not docstrings
        return None
    if isinstance(value, bytes):
        return None
    return inspect.cleandoc(value), result.span(string)


def _leading_comment(node: tree_sitter.Node, result: ParseResult):
    """The block of comments ending on the line right above the definition."""
    anchor = node
    while anchor.parent is not None and anchor.parent.type in _WRAPPERS:
        anchor = anchor.parent
    comments: list[tree_sitter.Node] = []
    line = anchor.start_point[0]
    sibling = anchor.prev_sibling
    while sibling is not None:
        if sibling.type in ("attribute_item", "attribute", "annotation", "marker_annotation"):
            line = sibling.start_point[0]
        elif "comment" in sibling.type and sibling.end_point[0] >= line - 1:
            comments.append(sibling)
            line = sibling.start_point[0]
        else:
            break
        sibling = sibling.prev_sibling
    if not comments:
        return None
    comments.reverse()
    text = "\n".join(_clean_comment(result.text(c)) for c in comments).strip()
    if not text:
        return None
    return text, (result.char(comments[0].start_byte), result.char(comments[-1].end_byte))


def functions(source: Source, language: str | None = None) -> list[FunctionInfo]:
    """Every function, method and class, in source order (nested ones included)."""
    return [info for _node, info in definitions(ensure_parsed(source, language))]


def definitions(result: ParseResult) -> Iterator[tuple[tree_sitter.Node, FunctionInfo]]:
    """(tree node, FunctionInfo) of every definition, in source order."""
    kinds = _DEFS[result.language]
    for node in walk(result.root):
        kind = kinds.get(node.type)
        if kind is None:
            continue
        body = _body(node)
        if body is None and not (result.language == "ruby" and kind == "function"):
            continue  # a declaration without a body (`struct S;`, an abstract method)
        if node.type == "type_spec" and body.type not in ("struct_type", "interface_type"):
            continue  # Go: only struct and interface types are class-like
        name = _name(node, result) or "<anonymous>"
        scope: list[str] = []
        if "::" in name:  # C++ `int K::put(...)` is method `put` of `K`
            *scope, name = name.split("::")
        elif node.type == "method_declaration" and result.language == "go":
            receiver = node.child_by_field_name("receiver")
            types = [n for n in walk(receiver) if n.type == "type_identifier"] if receiver else []
            scope = [result.text(types[0])] if types else []
        # enclosing definitions give the qualified name and the method kind
        outer: list[str] = []
        parent_kind = None
        parent = node.parent
        while parent is not None:
            pk = kinds.get(parent.type)
            if pk is not None or parent.type in _METHOD_CONTAINERS:
                if parent_kind is None:
                    parent_kind = "class" if parent.type in _METHOD_CONTAINERS else pk
                if parent.type == "impl_item":
                    target = parent.child_by_field_name("type")
                    outer.append(result.text(target) if target is not None else "impl")
                else:
                    outer.append(_name(parent, result) or "<anonymous>")
            parent = parent.parent
        if kind == "function" and (parent_kind == "class" or scope
                                   or node.type == "method_declaration"):
            kind = "method"
        qualname = ".".join([*reversed(outer), *scope, name])
        span_node = node
        if node.parent is not None and node.parent.type == "decorated_definition":
            span_node = node.parent
        doc = None
        if result.language == "python" and body is not None:
            doc = _python_docstring(body, result)
        if doc is None:
            doc = _leading_comment(node, result)
        start, end = result.span(span_node)
        head_end = body.start_byte if body is not None else node.end_byte
        signature = result.data[node.start_byte:head_end].decode("utf-8", "surrogatepass")
        signature = " ".join(signature.split())  # one line, whatever the layout
        if result.language == "python":
            signature = signature.removesuffix(":").rstrip()
        elif body is None and result.language == "ruby":
            signature = signature.removesuffix("end").rstrip(" ;")
        yield node, (FunctionInfo(
            name=name, qualname=qualname, kind=kind, signature=signature,
            body=result.text(body) if body is not None else "",
            docstring=doc[0] if doc else None, docstring_span=doc[1] if doc else None,
            start_line=span_node.start_point[0] + 1, end_line=node.end_point[0] + 1,
            start=start, end=end, code=result.source[start:end]))
