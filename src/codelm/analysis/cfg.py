"""Control-flow graphs of functions: basic blocks and labelled edges.

One graph per function or method (and one named `<module>` for a script's
top-level code). Block kinds:

- `entry`, `exit`: one each; every return, uncaught raise and the fall-off
  end lead to `exit`;
- `basic`: straight-line statements;
- `condition`: the test of an if/elif/while/do-while/C-style for;
- `loop`: the head of a for-each loop (`next` into the body, `done` out);
- `switch` and `case`: a switch/match subject and one case label each;
- `handler`: an except/catch clause, `finally`: a finally block.

Edge labels: `""` (fall through), `true`/`false`, `next`/`done`, `case`/
`default` (no case matched), `break`, `continue`, `return`, `raise` (an
explicit raise/throw), `exception` (any statement of a try body may raise
into each handler; with no handler, into the finally block). An abrupt exit
inside `try ... finally` goes into the finally block with its own label and
leaves the finally block towards its real target with that label again.

Built by hand on the tree-sitter tree: no maintained library builds CFGs for
several languages from one parse (python-graphs covers Python only and needs
its own parser). Loops, `break`/`continue` with Java/JS/Go labels, and
try/except/else/finally follow the languages' semantics; constant conditions
are not folded (`while True` keeps its `false` edge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tree_sitter

from codelm.analysis.functions import definitions
from codelm.analysis.parsing import ParseResult, Source, ensure_parsed, first_named, recursion_room
from codelm.errors import ConfigError

# Statement roles per language (node type -> role); unlisted statements are simple.
_C_LIKE = {
    "if_statement": "if", "while_statement": "while", "do_statement": "do",
    "for_statement": "for", "switch_statement": "switch", "return_statement": "return",
    "break_statement": "break", "continue_statement": "continue",
    "labeled_statement": "labeled", "try_statement": "try", "throw_statement": "raise",
}
_ROLES: dict[str, dict[str, str]] = {
    "python": {
        "if_statement": "if", "while_statement": "while", "for_statement": "foreach",
        "try_statement": "try", "with_statement": "with", "match_statement": "switch",
        "return_statement": "return", "raise_statement": "raise",
        "break_statement": "break", "continue_statement": "continue",
    },
    "java": {**_C_LIKE, "enhanced_for_statement": "foreach", "switch_expression": "switch",
             "try_with_resources_statement": "try", "yield_statement": "break",
             "synchronized_statement": "with"},
    "javascript": {**_C_LIKE, "for_in_statement": "foreach"},
    "c": {k: v for k, v in _C_LIKE.items() if k not in ("try_statement", "throw_statement")},
    "cpp": {**_C_LIKE, "for_range_loop": "foreach", "co_return_statement": "return"},
    "csharp": {**_C_LIKE, "foreach_statement": "foreach", "using_statement": "with",
               "lock_statement": "with", "checked_statement": "with", "fixed_statement": "with",
               "unsafe_statement": "with"},
    "go": {"if_statement": "if", "for_statement": "go_for",
           "expression_switch_statement": "switch", "type_switch_statement": "switch",
           "select_statement": "switch", "return_statement": "return",
           "break_statement": "break", "continue_statement": "continue",
           "labeled_statement": "labeled"},
    "php": {**_C_LIKE, "foreach_statement": "foreach"},
}
_ROLES["typescript"] = _ROLES["tsx"] = _ROLES["javascript"]
CFG_LANGUAGES: tuple[str, ...] = tuple(_ROLES)

_SEQUENCES = frozenset({"block", "compound_statement", "statement_block", "statement_list",
                        "else_clause", "finally_clause", "declaration_list"})
_DEFINITIONS = frozenset({
    "function_definition", "class_definition", "decorated_definition", "import_statement",
    "import_from_statement", "future_import_statement", "function_declaration",
    "class_declaration", "method_declaration", "import_declaration", "package_clause",
    "package_declaration", "type_declaration", "preproc_include", "preproc_def",
    "namespace_use_declaration", "php_tag", "text_interpolation", "interface_declaration",
    "lexical_declaration", "export_statement", "using_directive", "namespace_definition",
})
_HANDLER_TYPES = frozenset({"except_clause", "except_group_clause", "catch_clause"})
_FINALLY_TYPES = frozenset({"finally_clause"})


@dataclass
class Block:
    id: int
    kind: str
    lines: list[int]  # [first, last], 1-based

    def extend(self, node: tree_sitter.Node, end_row: int | None = None) -> None:
        first, last = node.start_point[0] + 1, (end_row if end_row is not None else node.end_point[0]) + 1
        if self.lines[0] == 0:
            self.lines = [first, last]
        else:
            self.lines = [min(self.lines[0], first), max(self.lines[1], last)]


@dataclass(frozen=True, order=True)
class CFGEdge:
    src: int
    dst: int
    label: str


@dataclass
class FunctionCFG:
    name: str
    blocks: list[Block]
    edges: list[CFGEdge]

    @property
    def entry(self) -> Block:
        return self.blocks[0]

    @property
    def exit(self) -> Block:
        return self.blocks[-1]

    def to_json(self) -> dict:
        return {"name": self.name,
                "blocks": [{"id": b.id, "kind": b.kind, "lines": list(b.lines)} for b in self.blocks],
                "edges": [{"src": e.src, "dst": e.dst, "label": e.label} for e in self.edges]}

    def to_dot(self, prefix: str = "") -> str:
        """A DOT `subgraph cluster` for this function (see `cfg_dot`)."""
        p = prefix
        out = [f'  subgraph "cluster_{p}" {{', f'    label="{self.name}";']
        for b in self.blocks:
            shape = {"entry": "oval", "exit": "oval", "condition": "diamond",
                     "loop": "hexagon", "switch": "diamond"}.get(b.kind, "box")
            out.append(f'    "{p}{b.id}" [label="{b.kind} {b.lines[0]}-{b.lines[1]}", shape={shape}];')
        for e in self.edges:
            label = f' [label="{e.label}"]' if e.label else ""
            out.append(f'    "{p}{e.src}" -> "{p}{e.dst}"{label};')
        out.append("  }")
        return "\n".join(out)


def cfg_dot(cfgs: list[FunctionCFG]) -> str:
    """Graphviz DOT with one cluster per function."""
    body = [cfg.to_dot(prefix=f"f{i}_") for i, cfg in enumerate(cfgs)]
    return "digraph cfg {\n  node [fontname=\"monospace\"];\n" + "\n".join(body) + "\n}\n"


Pred = tuple[Block, str]  # a dangling edge: from block, with label


@dataclass
class _Loop:
    label: str | None
    breaks: list[Pred] = field(default_factory=list)
    continues: list[Pred] = field(default_factory=list)
    is_switch: bool = False


@dataclass
class _Try:
    has_handlers: bool
    has_finally: bool
    in_body: bool = True  # building the try body (not a handler or else clause)
    body_blocks: list[Block] = field(default_factory=list)
    raised: set[int] = field(default_factory=set)  # body blocks ending in raise/throw
    pending: list[tuple[Block, str, str | None]] = field(default_factory=list)  # via finally


class _Builder:
    def __init__(self, result: ParseResult, roles: dict[str, str]) -> None:
        self.r = result
        self.roles = roles
        self.blocks: list[Block] = []
        self.edges: set[tuple[int, int, str]] = set()
        self.open: set[int] = set()  # basic blocks that can still take statements
        self.frames: list[_Loop | _Try] = []
        self.exit = Block(-1, "exit", [0, 0])  # numbered last, once all blocks exist
        self._label: str | None = None  # a statement label for the next loop (`outer:`)

    # ---- blocks and edges -----------------------------------------------------------
    def new(self, kind: str, node: tree_sitter.Node | None = None, end_row: int | None = None,
            can_grow: bool = False) -> Block:
        block = Block(len(self.blocks), kind, [0, 0])
        if node is not None:
            block.extend(node, end_row)
        self.blocks.append(block)
        if can_grow:
            self.open.add(block.id)
        for frame in reversed(self.frames):  # the innermost try body owns the block
            if isinstance(frame, _Try) and frame.in_body:
                frame.body_blocks.append(block)
                break
        return block

    def link(self, preds: list[Pred], dst: Block) -> None:
        for block, label in preds:
            self.edges.add((block.id, dst.id, label))
            self.open.discard(block.id)

    def header_end(self, node: tree_sitter.Node, body: tree_sitter.Node | None) -> int:
        """Last row of a compound statement's header (before its body)."""
        end = node.start_point[0]
        for child in node.children:
            if body is not None and child.start_byte >= body.start_byte:
                break
            if child.type in _SEQUENCES:
                break
            end = max(end, child.end_point[0])
        return end

    # ---- statements ------------------------------------------------------------------
    def seq(self, nodes: list[tree_sitter.Node], preds: list[Pred]) -> list[Pred]:
        for node in nodes:
            preds = self.stmt(node, preds)
        return preds

    def children(self, node: tree_sitter.Node | None) -> list[tree_sitter.Node]:
        if node is None:
            return []
        if node.type in _SEQUENCES:
            out = []
            for child in node.named_children:
                if child.type in _SEQUENCES and child.type != "else_clause":
                    out.extend(self.children(child))
                elif "comment" not in child.type:
                    out.append(child)
            return out
        return [node]

    def body(self, node: tree_sitter.Node | None, preds: list[Pred]) -> list[Pred]:
        return self.seq(self.children(node), preds)

    def simple(self, node: tree_sitter.Node, preds: list[Pred], end_row: int | None = None) -> tuple[list[Pred], Block]:
        if len(preds) == 1 and preds[0][1] == "" and preds[0][0].id in self.open:
            block = preds[0][0]
            block.extend(node, end_row)
        else:
            block = self.new("basic", node, end_row, can_grow=True)
            self.link(preds, block)
        return [(block, "")], block

    def stmt(self, node: tree_sitter.Node, preds: list[Pred]) -> list[Pred]:
        if "comment" in node.type:
            return preds
        role = self.roles.get(node.type)
        if role is None and node.type == "expression_statement" and node.named_child_count == 1:
            inner = first_named(node)
            if inner.type in ("throw_expression",):
                role = "raise"
            elif self.roles.get(inner.type) == "switch":  # Java/C# switch as a statement
                return self.stmt(inner, preds)
        if role is None:
            if node.type in _SEQUENCES:
                return self.body(node, preds)
            return self.simple(node, preds)[0]
        return getattr(self, "s_" + role)(node, preds)

    def jump(self, block: Block, kind: str, label: str | None = None) -> None:
        """Route a return/raise/break/continue through enclosing frames."""
        for frame in reversed(self.frames):
            if isinstance(frame, _Try):
                if kind == "raise" and frame.in_body and frame.has_handlers:
                    frame.raised.add(block.id)  # linked to the handlers once they exist
                    return
                if kind == "raise" and frame.in_body:
                    frame.raised.add(block.id)
                if frame.has_finally:
                    frame.pending.append((block, kind, label))
                    return
            elif kind in ("break", "continue"):
                if frame.is_switch and (kind == "continue" or label is not None):
                    continue
                if label is not None and frame.label != label:
                    continue
                target = frame.breaks if kind == "break" else frame.continues
                target.append((block, kind))
                return
        if kind in ("return", "raise"):
            self.edges.add((block.id, self.exit.id, kind))
        self.open.discard(block.id)

    def _abrupt(self, node: tree_sitter.Node, preds: list[Pred], kind: str) -> list[Pred]:
        _, block = self.simple(node, preds)
        label = None
        if kind in ("break", "continue"):
            ids = [c for c in node.named_children
                   if c.type in ("identifier", "label_name", "statement_identifier")]
            label = self.r.text(ids[0]) if ids else None
        self.open.discard(block.id)
        self.jump(block, kind, label)
        return []

    def s_return(self, node, preds):
        return self._abrupt(node, preds, "return")

    def s_raise(self, node, preds):
        return self._abrupt(node, preds, "raise")

    def s_break(self, node, preds):
        return self._abrupt(node, preds, "break")

    def s_continue(self, node, preds):
        return self._abrupt(node, preds, "continue")

    def s_with(self, node, preds):
        body = node.child_by_field_name("body")
        preds, _ = self.simple(node, preds, self.header_end(node, body))
        return self.body(body, preds)

    def s_labeled(self, node, preds):
        label = node.child_by_field_name("label") or next(
            (c for c in node.named_children if c.type in ("identifier", "label_name",
                                                          "statement_identifier")), None)
        inner = [c for c in node.named_children if label is None or c.id != label.id]
        self._label = self.r.text(label) if label is not None else None
        out = self.seq(inner, preds)
        self._label = None
        return out

    def _take_label(self) -> str | None:
        label, self._label = self._label, None
        return label

    def s_if(self, node, preds):
        arms: list[tuple[tree_sitter.Node, tree_sitter.Node | None]] = []
        else_body: tree_sitter.Node | None = None
        current = node
        while current is not None:
            if current.type == "if_statement" and self.r.language == "go":
                init = current.child_by_field_name("initializer")
                if init is not None:
                    preds = self.simple(init, preds)[0]
            cond = current.child_by_field_name("condition")
            then = current.child_by_field_name("consequence") or current.child_by_field_name("body")
            arms.append((cond if cond is not None else current, then))
            alts = current.children_by_field_name("alternative")
            current = None
            for alt in alts:
                if alt.type in ("elif_clause", "else_if_clause"):
                    cond = alt.child_by_field_name("condition")
                    then = alt.child_by_field_name("consequence") or alt.child_by_field_name("body")
                    arms.append((cond if cond is not None else alt, then))
                else:
                    inner = alt
                    if alt.type == "else_clause":
                        body = alt.child_by_field_name("body")
                        kids = [c for c in alt.named_children if "comment" not in c.type]
                        inner = body if body is not None else (kids[0] if len(kids) == 1 else alt)
                    if inner.type == "if_statement" and self.r.language != "python":
                        current = inner  # `else if`: one more arm of the chain
                    else:
                        else_body = inner
                    break
        outs: list[Pred] = []
        for cond, then in arms:
            block = self.new("condition", cond)
            self.link(preds, block)
            outs.extend(self.body(then, [(block, "true")]))
            preds = [(block, "false")]
        if else_body is not None:
            outs.extend(self.body(else_body, preds))
        else:
            outs.extend(preds)
        return outs

    def _loop(self, head: Block, body_node, preds_into_body: list[Pred], exit_preds: list[Pred],
              continue_to: Block | None = None, orelse=None, update=None) -> list[Pred]:
        frame = _Loop(self._take_label())
        self.frames.append(frame)
        end = self.body(body_node, preds_into_body)
        self.frames.pop()
        if update is not None:
            upd = self.new("basic", update[0])
            for extra in update[1:]:
                upd.extend(extra)
            self.link(end + frame.continues, upd)
            self.link([(upd, "")], head)
        else:
            self.link(end + frame.continues, continue_to or head)
        if orelse is not None:
            exit_preds = self.body(orelse, exit_preds)
        return exit_preds + frame.breaks

    def s_while(self, node, preds):
        cond = node.child_by_field_name("condition")
        head = self.new("condition", cond if cond is not None else node)
        self.link(preds, head)
        return self._loop(head, node.child_by_field_name("body"), [(head, "true")],
                          [(head, "false")], orelse=node.child_by_field_name("alternative"))

    def s_do(self, node, preds):
        body = node.child_by_field_name("body")
        cond = node.child_by_field_name("condition")
        frame = _Loop(self._take_label())
        self.frames.append(frame)
        start = self.new("basic", None, can_grow=True)
        self.link(preds, start)
        end = self.body(body, [(start, "")])
        self.frames.pop()
        if start.lines == [0, 0]:
            start.lines = [node.start_point[0] + 1] * 2
        test = self.new("condition", cond if cond is not None else node)
        self.link(end + frame.continues, test)
        self.edges.add((test.id, start.id, "true"))
        return [(test, "false"), *frame.breaks]

    def s_for(self, node, preds):
        body = node.child_by_field_name("body")
        inits = [c for name in ("init", "initializer", "initialize")
                 for c in node.children_by_field_name(name)]
        for init in inits:
            preds = self.simple(init, preds)[0]
        cond = node.child_by_field_name("condition")
        updates = [c for name in ("update", "increment") for c in node.children_by_field_name(name)]
        if cond is None:  # `for (;;)`
            head = self.new("loop", node, self.header_end(node, body))
            self.link(preds, head)
            return self._loop(head, body, [(head, "next")], [], update=updates or None)
        head = self.new("condition", cond)
        self.link(preds, head)
        return self._loop(head, body, [(head, "true")], [(head, "false")], update=updates or None)

    def s_foreach(self, node, preds):
        body = node.child_by_field_name("body")
        head = self.new("loop", node, self.header_end(node, body))
        self.link(preds, head)
        return self._loop(head, body, [(head, "next")], [(head, "done")],
                          orelse=node.child_by_field_name("alternative"))

    def s_go_for(self, node, preds):
        body = node.child_by_field_name("body")
        header = next((c for c in node.named_children if body is None or c.id != body.id), None)
        if header is not None and header.type == "for_clause":
            init = header.child_by_field_name("initializer")
            if init is not None:
                preds = self.simple(init, preds)[0]
            cond = header.child_by_field_name("condition")
            update = header.child_by_field_name("update")
            head = self.new("condition" if cond is not None else "loop",
                            cond if cond is not None else node, None if cond is not None
                            else self.header_end(node, body))
            self.link(preds, head)
            into = [(head, "true" if cond is not None else "next")]
            return self._loop(head, body, into, [(head, "false")] if cond is not None else [],
                              update=[update] if update is not None else None)
        if header is not None and header.type == "range_clause":
            head = self.new("loop", node, self.header_end(node, body))
            self.link(preds, head)
            return self._loop(head, body, [(head, "next")], [(head, "done")])
        if header is not None:
            head = self.new("condition", header)
            self.link(preds, head)
            return self._loop(head, body, [(head, "true")], [(head, "false")])
        head = self.new("loop", node, node.start_point[0])
        self.link(preds, head)
        return self._loop(head, body, [(head, "next")], [])

    def _cases(self, node: tree_sitter.Node) -> list[tree_sitter.Node]:
        body = node.child_by_field_name("body")
        container = body if body is not None else node
        skip = {c.id for c in (node.child_by_field_name("value"), node.child_by_field_name("condition"),
                               node.child_by_field_name("subject"),
                               node.child_by_field_name("initializer")) if c is not None}
        return [c for c in container.named_children if c.id not in skip and "comment" not in c.type]

    def _case_parts(self, case: tree_sitter.Node) -> tuple[int, list[tree_sitter.Node], bool]:
        """(last header row, body statements, is default) of one case."""
        kind = case.type
        if kind == "case_clause":  # Python match
            body = case.child_by_field_name("consequence")
            pattern = next((c for c in case.named_children if c.type == "case_pattern"), None)
            default = pattern is not None and self.r.text(pattern) == "_"
            return self.header_end(case, body), self.children(body), default
        labels, stmts = [], []
        for i, child in enumerate(case.named_children):
            name = case.field_name_for_named_child(i)
            if "comment" in child.type:
                continue
            if child.type in ("switch_label", "constant_pattern", "case_switch_label",
                              "default_switch_label", "expression_list") or name in (
                                  "value", "label", "type", "communication"):
                labels.append(child)
            elif name == "body" and child.type in _SEQUENCES:
                stmts.extend(self.children(child))
            else:
                stmts.append(child)
        default = kind in ("switch_default", "default_case", "default_statement") or any(
            c.type == "default" for c in case.children) or any(
            self.r.text(c).startswith("default") for c in labels if c.type == "switch_label")
        end = max([case.start_point[0], *(c.end_point[0] for c in labels)])
        return end, stmts, default

    def s_switch(self, node, preds):
        init = node.child_by_field_name("initializer")
        if init is not None:
            preds = self.simple(init, preds)[0]
        body = node.child_by_field_name("body")
        head = self.new("switch", node, self.header_end(node, body) if body is not None
                        else node.start_point[0])
        self.link(preds, head)
        falls = self.r.language in ("java", "javascript", "typescript", "tsx", "c", "cpp", "php")
        frame = _Loop(self._take_label(), is_switch=self.r.language != "python")
        self.frames.append(frame)
        outs: list[Pred] = []
        carry: list[Pred] = []
        has_default = False
        for case in self._cases(node):
            end_row, stmts, default = self._case_parts(case)
            has_default = has_default or default
            block = self.new("case", case, end_row, can_grow=True)
            self.edges.add((head.id, block.id, "default" if default else "case"))
            self.link(carry, block)
            end = self.seq(stmts, [(block, "")])
            if falls and case.type != "switch_rule":
                carry = end
            else:
                outs.extend(end)
                carry = []
        self.frames.pop()
        outs.extend(carry)
        if not has_default:
            outs.append((head, "default"))
        return outs + frame.breaks

    def s_try(self, node, preds):
        body = node.child_by_field_name("body")
        handlers = [c for c in node.named_children if c.type in _HANDLER_TYPES]
        final = next((c for c in node.named_children if c.type in _FINALLY_TYPES), None)
        orelse = next((c for c in node.named_children if c.type == "else_clause"), None)
        resources = node.child_by_field_name("resources")
        if resources is not None:
            preds = self.simple(resources, preds)[0]
        for block, _ in preds:  # the try body starts a block of its own
            self.open.discard(block.id)
        frame = _Try(bool(handlers), final is not None)
        self.frames.append(frame)
        outs = self.body(body, preds)
        frame.in_body = False
        handler_blocks = []
        for h in handlers:
            hbody = h.child_by_field_name("body")
            handler_blocks.append(self.new("handler", h, self.header_end(h, hbody), can_grow=True))
        for block in frame.body_blocks:  # any statement of the body may raise
            for hb in handler_blocks:
                label = "raise" if block.id in frame.raised else "exception"
                self.edges.add((block.id, hb.id, label))
        if orelse is not None:
            for block, _ in outs:  # the else clause is not covered by the handlers
                self.open.discard(block.id)
            outs = self.body(orelse, outs)
        for h, hb in zip(handlers, handler_blocks, strict=True):
            hbody = h.child_by_field_name("body")
            if hbody is not None:
                stmts = self.children(hbody)
            else:  # Python: the block is an unnamed child
                stmts = [s for c in h.named_children if c.type in _SEQUENCES
                         for s in self.children(c)]
            outs.extend(self.seq(stmts, [(hb, "")]))
        self.frames.pop()
        if final is None:
            return outs
        fin = self.new("finally", final, final.start_point[0], can_grow=True)
        self.link(outs, fin)
        if not handlers:  # nothing catches: exceptions pass through the finally block
            for block in frame.body_blocks:
                if block.id not in frame.raised:
                    self.edges.add((block.id, fin.id, "exception"))
            if frame.body_blocks:
                frame.pending.append((frame.body_blocks[0], "raise", None))
        for block, kind, _ in frame.pending:
            if not (kind == "raise" and block.id not in frame.raised and not handlers):
                self.edges.add((block.id, fin.id, kind))
        end = self.body(final, [(fin, "")])
        for block, _ in end:  # it also leaves towards the abrupt exits' targets
            self.open.discard(block.id)
        for kind, label in dict.fromkeys((k, lab) for _, k, lab in frame.pending):
            for block, _ in end:
                self.jump(block, kind, label)
        return end if outs else []

    # ---- whole function ----------------------------------------------------------------
    def build(self, name: str, node: tree_sitter.Node, body_nodes: list[tree_sitter.Node]) -> FunctionCFG:
        entry = self.new("entry")
        entry.lines = [node.start_point[0] + 1] * 2
        end = self.seq(body_nodes, [(entry, "")])
        self.exit.id = len(self.blocks)
        row, col = node.end_point
        if col == 0 and row > node.start_point[0]:  # a file ends after its last newline
            row -= 1
        self.exit.lines = [row + 1] * 2
        self.blocks.append(self.exit)
        self.link(end, self.exit)
        # the exit got its id last: rewrite edges recorded against the placeholder
        edges = sorted(CFGEdge(s if s >= 0 else self.exit.id, d if d >= 0 else self.exit.id, lab)
                       for s, d, lab in self.edges)
        return FunctionCFG(name, self.blocks, edges)


def control_flow(source: Source, language: str | None = None) -> list[FunctionCFG]:
    """One CFG per function/method in source order, `<module>` first when the
    file has top-level statements besides definitions and imports."""
    result = ensure_parsed(source, language)
    roles = _ROLES.get(result.language)
    if roles is None:
        raise ConfigError(
            f"no control-flow analysis for '{result.language}'; supported: {', '.join(CFG_LANGUAGES)}")
    with recursion_room("control flow"):
        return _control_flow(result, roles)


def _control_flow(result: ParseResult, roles: dict[str, str]) -> list[FunctionCFG]:
    out: list[FunctionCFG] = []
    top = [c for c in result.root.named_children if "comment" not in c.type]
    if any(c.type not in _DEFINITIONS for c in top):
        out.append(_Builder(result, roles).build("<module>", result.root, top))
    for node, info in definitions(result):
        if info.kind == "class":
            continue
        body = node.child_by_field_name("body")
        if body is None:
            continue
        if body.type not in _SEQUENCES:  # `x => x + 1`: one expression
            stmts = [body]
        else:
            stmts = _Builder(result, roles).children(body)
        out.append(_Builder(result, roles).build(info.qualname, node, stmts))
    return out
