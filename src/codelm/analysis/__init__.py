"""Compiler views of code: languages, parse trees, tokens, identifiers,
functions, data flow and control flow (tree-sitter, 11 languages).

    from codelm.analysis import parse, tokens, identifiers, functions, data_flow, control_flow

Every function takes `(source, language)` or a `ParseResult` from `parse()`
(to parse once and ask many questions). Offsets are characters of the `str`
source; lines are 1-based, columns 0-based characters. See docs/analysis.md.
"""

from codelm.analysis.cfg import CFG_LANGUAGES, Block, CFGEdge, FunctionCFG, cfg_dot, control_flow
from codelm.analysis.dfg import DFG_LANGUAGES, DataFlowGraph, DFGEdge, DFGNode, data_flow
from codelm.analysis.functions import FunctionInfo, functions
from codelm.analysis.identifiers import Occurrence, identifiers
from codelm.analysis.keywords import keywords
from codelm.analysis.languages import detect_language, known_languages
from codelm.analysis.parsing import (
    SUPPORTED_LANGUAGES,
    ParseResult,
    SyntaxIssue,
    ast_dot,
    ast_json,
    normalize_language,
    parse,
    subtrees,
)
from codelm.analysis.tokens import KINDS, CodeToken, identifier_mask, tokens

__all__ = [
    "CFG_LANGUAGES", "DFG_LANGUAGES", "KINDS", "SUPPORTED_LANGUAGES", "Block", "CFGEdge",
    "CodeToken", "DFGEdge", "DFGNode", "DataFlowGraph", "FunctionCFG", "FunctionInfo",
    "Occurrence", "ParseResult", "SyntaxIssue", "ast_dot", "ast_json", "cfg_dot",
    "control_flow", "data_flow", "detect_language", "functions", "identifier_mask",
    "identifiers", "keywords", "known_languages", "normalize_language", "parse", "subtrees",
    "tokens",
]
