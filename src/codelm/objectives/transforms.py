"""Semantics-preserving code transforms for contrastive views (Python functions).

Code-MVP, ContraBERT and similar work pair a function with a rewritten copy
that computes the same thing, so a model learns what code *does* rather
than how it is spelled. Four rewrites, each on the tree-sitter tree from
`codelm.analysis`, applied as text edits (formatting and comments elsewhere
stay untouched):

- `rename`: local variables of the function get new names, every
  occurrence alike (alpha renaming); parameters keep theirs, since callers
  may pass them by keyword;
- `dead_code`: an unused assignment or an `if False:` block is inserted
  before a statement;
- `loop_exchange`: `for t in it:` becomes an explicit `iter`/`next` loop
  under `while True:`, and `while c:` becomes `for _ in iter(int, 1):`
  with `if not (c): break`;
- `operand_swap`: `a < b` → `b > a`, `a == b` → `b == a`, and `x + 1` →
  `1 + x` (`*`, `&`, `|`, `^` too) when one side is a number literal.

Each transform returns None where it does not apply or could change
behaviour; the guards, and why:

- renaming skips functions that use `global`/`nonlocal`, contain a class
  (class bodies turn names into attributes), or call `locals`, `vars`,
  `eval`, `exec`, `globals`; a name also used as a keyword argument is kept
  (the keyword names the callee's parameter); names are changed only in the
  body (defaults and annotations are evaluated outside the function);
- inserted dead code never contains `yield`, `await` or `:=`, which would
  change what the function is or which names are local;
- swapped operands are names, literals, attributes or subscripts of those,
  so the evaluation order of side effects cannot change; `+` and `*` are
  swapped only next to a number literal, where Python's numbers commute and
  `str`/`list` operands either commute (`*`) or fail either way (`+`);
- loops with an `else:` clause, `async for`, and one-line bodies are left
  alone; so are functions that shadow `iter`, `next`, `int` or
  `StopIteration`.

Behaviour preservation is tested by executing original and transformed
functions on generated inputs (tests/objectives/test_transforms.py).
Other languages: not transformed (None), so views fall back to the others.
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Callable, Iterator

import numpy as np
import tree_sitter

from codelm.analysis.parsing import ParseResult, parse, walk

TRANSFORMS: tuple[str, ...] = ("rename", "dead_code", "loop_exchange", "operand_swap")

_SCOPES = frozenset({"function_definition", "lambda", "class_definition", "list_comprehension",
                     "set_comprehension", "dictionary_comprehension", "generator_expression"})
_DYNAMIC = frozenset({"locals", "vars", "eval", "exec", "globals"})
_LOOP_BUILTINS = frozenset({"iter", "next", "int", "StopIteration"})
_NAME_POOL = ("value", "item", "result", "data", "temp", "obj", "elem", "arg", "node", "key",
              "count", "index", "buf", "acc", "cur", "res", "tmp", "var", "val", "entry")
_RESERVED = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)

Edit = tuple[int, int, str]  # replace source[start:end] with text


def apply_edits(text: str, edits: list[Edit]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _function(result: ParseResult) -> tree_sitter.Node | None:
    """The first function definition of the snippet (inside a decorator if any)."""
    for node in result.root.named_children:
        if node.type == "decorated_definition":
            node = node.child_by_field_name("definition")
        if node is not None and node.type == "function_definition":
            return node
    return None


def _parse_function(code: str, language: str) -> tuple[ParseResult, tree_sitter.Node] | None:
    if language != "python":
        return None
    result = parse(code, "python")
    if not result.ok:
        return None
    func = _function(result)
    return (result, func) if func is not None else None


def _scope_of(node: tree_sitter.Node) -> tree_sitter.Node | None:
    parent = node.parent
    while parent is not None and parent.type not in _SCOPES:
        parent = parent.parent
    return parent


def _in_own_scope(node: tree_sitter.Node, func: tree_sitter.Node) -> bool:
    scope = _scope_of(node)
    return scope is not None and scope.id == func.id


def _identifier_texts(result: ParseResult, node: tree_sitter.Node) -> set[str]:
    return {result.text(n) for n in walk(node) if n.type == "identifier"}


def fresh_names(taken: set[str], rng: np.random.Generator) -> Iterator[str]:
    """Plausible variable names never used in the code (nor builtins or keywords)."""
    order = rng.permutation(len(_NAME_POOL)).tolist()
    for suffix in ("", *range(2, 1000)):
        for i in order:
            name = f"{_NAME_POOL[i]}{suffix}"
            if name not in taken and name not in _RESERVED:
                taken.add(name)
                yield name


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _first_on_line(result: ParseResult, node: tree_sitter.Node) -> str | None:
    """The indentation before `node` when nothing else precedes it on its line."""
    start = result.span(node)[0]
    prefix = result.source[_line_start(result.source, start):start]
    return prefix if prefix.strip() == "" else None


# --- rename ---------------------------------------------------------------------------


def _is_binding_target(node: tree_sitter.Node) -> bool:
    """Identifier positions that do not name a variable of this scope."""
    parent = node.parent
    if parent is None:
        return False
    if parent.type == "attribute" and parent.child_by_field_name("attribute") == node:
        return True
    if parent.type == "keyword_argument" and parent.child_by_field_name("name") == node:
        return True
    return parent.type in ("import_statement", "import_from_statement", "aliased_import", "dotted_name",
                           "global_statement", "nonlocal_statement")


def rename_identifiers(code: str, rng: np.random.Generator, language: str = "python") -> str | None:
    parsed = _parse_function(code, language)
    if parsed is None:
        return None
    result, func = parsed
    body = func.child_by_field_name("body")
    params = func.child_by_field_name("parameters")
    for node in walk(func):
        if node.type in ("global_statement", "nonlocal_statement", "class_definition"):
            return None
        if node.type == "identifier" and result.text(node) in _DYNAMIC:
            return None
    keyword_names = {result.text(n.child_by_field_name("name")) for n in walk(func)
                     if n.type == "keyword_argument" and n.child_by_field_name("name") is not None}
    # names bound in the function's own scope by assignment-like targets; parameters
    # keep their names (callers may pass them by keyword: the signature is behaviour)
    param_names = {result.text(n) for n in _parameter_names(params)}
    bound: set[str] = set()
    for node in walk(body):
        if node.type == "identifier" and _in_own_scope(node, func) and _binds(node) and not _is_binding_target(node):
            bound.add(result.text(node))
    bound -= keyword_names | param_names
    bound.discard(result.text(func.child_by_field_name("name")))
    if not bound:
        return None
    taken = _identifier_texts(result, result.root)
    names = fresh_names(taken, rng)
    mapping = {old: next(names) for old in sorted(bound, key=lambda _: rng.random())}
    edits: list[Edit] = []
    for node in walk(body):
        if node.type == "identifier" and not _is_binding_target(node):
            old = result.text(node)
            if old in mapping:
                start, end = result.span(node)
                edits.append((start, end, mapping[old]))
    return apply_edits(code, edits)


def _parameter_names(params: tree_sitter.Node | None) -> list[tree_sitter.Node]:
    out = []
    for p in params.named_children if params is not None else []:
        if p.type == "identifier":
            out.append(p)
        elif p.type in ("default_parameter", "typed_default_parameter"):
            name = p.child_by_field_name("name")
            if name is not None and name.type == "identifier":
                out.append(name)
        elif p.type in ("typed_parameter", "list_splat_pattern", "dictionary_splat_pattern"):
            first = p.named_child(0)
            if first is not None and first.type == "identifier":
                out.append(first)
    return out


def _binds(node: tree_sitter.Node) -> bool:
    """Is this identifier (inside the body) assigned, loop-bound, with-bound or caught?"""
    child, parent = node, node.parent
    while parent is not None and parent.type in ("pattern_list", "tuple_pattern", "list_pattern",
                                                  "parenthesized_expression", "list_splat_pattern",
                                                  "expression_list", "tuple", "list"):
        child, parent = parent, parent.parent
    if parent is None:
        return False
    if parent.type in ("assignment", "augmented_assignment"):
        return parent.child_by_field_name("left") == child
    if parent.type == "for_statement":
        return parent.child_by_field_name("left") == child
    if parent.type == "as_pattern_target":
        return True
    if parent.type == "named_expression":
        return parent.child_by_field_name("name") == child
    if parent.type == "function_definition":  # a nested def binds its name here
        return parent.child_by_field_name("name") == child
    return False


# --- dead code ---------------------------------------------------------------------------


def _blocks(func: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    """Blocks of statements that run in the function's own scope."""
    for node in walk(func):
        if node.type == "block" and _scope_of(node) is not None and _scope_of(node).id == func.id:
            yield node


def _unit(prefix: str) -> str:
    return "\t" if prefix.endswith("\t") else "    "


def insert_dead_code(code: str, rng: np.random.Generator, language: str = "python") -> str | None:
    parsed = _parse_function(code, language)
    if parsed is None:
        return None
    result, func = parsed
    if any(n.type in ("global_statement", "nonlocal_statement") for n in walk(func)):
        return None  # code before the declaration could not mention those names
    body = func.child_by_field_name("body")
    spots: list[tuple[int, str]] = []  # (insertion offset, indentation)
    for block in _blocks(func):
        if block.parent is not None and block.parent.type == "match_statement":
            continue  # a match body holds `case` clauses, not statements
        for i, stmt in enumerate(block.named_children):
            if stmt.type in ("comment", "case_clause"):
                continue
            if i == 0 and block.id == body.id and _is_docstring(stmt):
                continue  # never push the docstring down: __doc__ would change
            prefix = _first_on_line(result, stmt)
            if prefix is None:
                continue
            spots.append((_line_start(code, result.span(stmt)[0]), prefix))
    if not spots:
        return None
    offset, prefix = spots[int(rng.integers(len(spots)))]
    taken = _identifier_texts(result, result.root)
    name = next(fresh_names(taken, rng))
    expressions = _copyable_expressions(result, func)
    if expressions and rng.random() < 0.5:
        expr = expressions[int(rng.integers(len(expressions)))]
        dead = f"{prefix}if False:\n{prefix}{_unit(prefix)}{name} = {expr}\n"
    else:
        dead = f"{prefix}{name} = {int(rng.integers(0, 100))}\n"
    return apply_edits(code, [(offset, offset, dead)])


def _is_docstring(stmt: tree_sitter.Node) -> bool:
    return stmt.type == "expression_statement" and stmt.named_child_count == 1 and stmt.named_child(0).type in (
        "string", "concatenated_string")


def _copyable_expressions(result: ParseResult, func: tree_sitter.Node) -> list[str]:
    """One-line right-hand sides from the function, never with yield/await/walrus/lambda."""
    out = []
    for node in walk(func):
        if node.type == "assignment" and node.child_by_field_name("right") is not None:
            right = node.child_by_field_name("right")
            text = result.text(right)
            bad = any(n.type in ("yield", "await", "named_expression", "lambda") for n in walk(right))
            if "\n" not in text and not bad and right.type != "assignment":
                out.append(text)
    return out


# --- for <-> while ------------------------------------------------------------------------


def exchange_loops(code: str, rng: np.random.Generator, language: str = "python") -> str | None:
    parsed = _parse_function(code, language)
    if parsed is None:
        return None
    result, func = parsed
    taken = _identifier_texts(result, result.root)
    if any(_is_bound_anywhere(result, func, n) for n in _LOOP_BUILTINS & taken):
        return None  # the rewrite calls iter/next/int and catches StopIteration
    loops = []
    for node in walk(func):
        if node.type not in ("for_statement", "while_statement"):
            continue
        if node.child_by_field_name("alternative") is not None or node.child(0).type == "async":
            continue
        body = node.child_by_field_name("body")
        statements = [c for c in body.named_children if c.type != "comment"]
        prefix = _first_on_line(result, node)
        body_prefix = _first_on_line(result, statements[0]) if statements else None
        if prefix is None or body_prefix is None or not body_prefix.startswith(prefix) or body_prefix == prefix:
            continue
        loops.append((node, prefix, body_prefix))
    if not loops:
        return None
    names = fresh_names(taken, rng)
    edits: list[Edit] = []
    chosen = [loop for loop in loops if rng.random() < 0.5] or [loops[int(rng.integers(len(loops)))]]
    chosen = _outermost(chosen)
    for node, prefix, body_prefix in chosen:
        unit = body_prefix[len(prefix):]
        body = node.child_by_field_name("body")
        header_end = _line_start(code, result.span(body.named_child(0))[0])
        start = result.span(node)[0]
        if node.type == "for_statement":
            left = result.text(node.child_by_field_name("left"))
            right = result.text(node.child_by_field_name("right"))
            it = next(names)
            new = (f"{it} = iter(({right}))\n{prefix}while True:\n{body_prefix}try:\n"
                   f"{body_prefix}{unit}{left} = next({it})\n{body_prefix}except StopIteration:\n"
                   f"{body_prefix}{unit}break\n")
        else:
            cond = result.text(node.child_by_field_name("condition"))
            new = (f"for {next(names)} in iter(int, 1):\n{body_prefix}if not ({cond}):\n"
                   f"{body_prefix}{unit}break\n")
        edits.append((start, header_end, new))
    return apply_edits(code, edits)


def _outermost(loops: list) -> list:
    """Drop loops nested inside another chosen loop (their edits would overlap)."""
    out = []
    for node, *rest in loops:
        inside = any(other is not node and other.start_byte <= node.start_byte and node.end_byte <= other.end_byte
                     for other, *_ in loops)
        if not inside:
            out.append((node, *rest))
    return out


def _is_bound_anywhere(result: ParseResult, func: tree_sitter.Node, name: str) -> bool:
    params = {n.id for p in walk(func) if p.type == "parameters" for n in _parameter_names(p)}
    return any(n.type == "identifier" and result.text(n) == name and (_binds(n) or n.id in params)
               for n in walk(func))


# --- operand swap -------------------------------------------------------------------------

_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!=", "is": "is", "is not": "is not"}
_COMMUTATIVE = frozenset({"+", "*", "&", "|", "^"})
_NUMBERS = frozenset({"integer", "float"})


def _simple(node: tree_sitter.Node) -> bool:
    """An operand whose evaluation has no side effects worth ordering."""
    t = node.type
    if t in ("identifier", "integer", "float", "true", "false", "none"):
        return True
    if t == "string":
        return not any(c.type == "interpolation" for c in walk(node))
    if t == "attribute":
        return _simple(node.child_by_field_name("object"))
    if t == "subscript":
        index = node.child_by_field_name("subscript")
        return _simple(node.child_by_field_name("value")) and index is not None and _simple(index)
    if t == "unary_operator":
        return _simple(node.child_by_field_name("argument"))
    return False


def _number(node: tree_sitter.Node) -> bool:
    if node.type == "unary_operator":
        node = node.child_by_field_name("argument")
    return node.type in _NUMBERS


def swap_operands(code: str, rng: np.random.Generator, language: str = "python") -> str | None:
    parsed = _parse_function(code, language)
    if parsed is None:
        return None
    result, func = parsed
    body = func.child_by_field_name("body")
    candidates: list[Edit] = []
    for node in walk(body):
        if node.type == "comparison_operator" and node.named_child_count == 2:
            a, b = node.named_children
            op = " ".join(result.text(c) for c in node.children if not c.is_named)
            op = " ".join(op.split())
            if op in _MIRROR and _simple(a) and _simple(b):
                candidates.append(_swap(result, node, a, b, _MIRROR[op]))
        elif node.type == "binary_operator":
            a, b = node.child_by_field_name("left"), node.child_by_field_name("right")
            op = result.text(node.child_by_field_name("operator"))
            if op in _COMMUTATIVE and _simple(a) and _simple(b) and (_number(a) or _number(b)):
                candidates.append(_swap(result, node, a, b, op))
    if not candidates:
        return None
    chosen = [c for c in candidates if rng.random() < 0.5] or [candidates[int(rng.integers(len(candidates)))]]
    return apply_edits(code, chosen)


def _swap(result: ParseResult, node: tree_sitter.Node, a: tree_sitter.Node, b: tree_sitter.Node, op: str) -> Edit:
    start, end = result.span(node)
    return start, end, f"{result.text(b)} {op} {result.text(a)}"


# --- composition --------------------------------------------------------------------------

TRANSFORM_FUNCS: dict[str, Callable[[str, np.random.Generator, str], str | None]] = {
    "rename": rename_identifiers,
    "dead_code": insert_dead_code,
    "loop_exchange": exchange_loops,
    "operand_swap": swap_operands,
}


def apply_transform(name: str, code: str, rng: np.random.Generator, language: str = "python") -> str | None:
    """One named transform, or None where it does not apply."""
    return TRANSFORM_FUNCS[name](code, rng, language)


def random_transforms(
    code: str,
    rng: np.random.Generator,
    language: str = "python",
    names: tuple[str, ...] = TRANSFORMS,
    rate: float = 0.5,
) -> tuple[str, list[str]]:
    """Apply each transform with probability `rate` (at least one that applies); returns (code, applied)."""
    order = [names[i] for i in rng.permutation(len(names))]
    wanted = [n for n in order if rng.random() < rate] or order
    applied: list[str] = []
    for name in wanted:
        new = apply_transform(name, code, rng, language)
        if new is not None:
            code = new
            applied.append(name)
    if not applied:  # none of the drawn ones applied: try the rest
        for name in order:
            if name in wanted:
                continue
            new = apply_transform(name, code, rng, language)
            if new is not None:
                return new, [name]
    return code, applied
