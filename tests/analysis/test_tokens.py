"""Token classification, offsets and keyword sets."""

from __future__ import annotations

import itertools
import re

import pytest

from codelm.analysis import KINDS, identifier_mask, keywords, tokens
from codelm.errors import ConfigError

SNIPPETS = {
    "python": 's = f"a{b!r}c" + "x" "y"  # note\n@dec\ndef g(*a, **k) -> None: ...\n',
    "java": "/** doc */ @Override public <T> List<T> f(int[] a) { return a.length > 0 ? null : List.of(); }",
    "javascript": "const t = `a${b}c` + /re+/g.source; // c",
    "typescript": "function f(x: number): number { return x + 1; }",
    "tsx": 'const e = <div className="a">{x}</div>;',
    "go": 'package m\nimport "fmt"\nfunc f() { s := `raw`; fmt.Println(s, \'c\', 1.5i) }',
    "rust": 'fn f<\'a>(x: &\'a str) -> String { let r = r#"raw"#; format!("{}{}", x, r) } // c',
    "c": '#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\nint main(void) { printf("%d\\n", MAX(1, 2)); /* c */ }',
    "cpp": 'auto s = R"(raw)"; std::vector<int> v{1, 2};',
    "csharp": "class A { string F(int x) => $\"v={x}\" + @\"p\" + 'c'; }",
    "ruby": 'x = "a#{b}c" + :sym.to_s\n@v = %w[a b]\nputs <<~EOS\n  heredoc\nEOS\n',
    "php": '<?php $s = "a $b c" . <<<EOT\nhe\nEOT;\n echo $s; ?>\n<b>x</b>',
}


def test_python_tokens_exact():
    got = [(t.text, t.kind, t.start, t.end, t.line, t.col)
           for t in tokens('if x is None:  # why\n    y = f"{x}" + 0x1F\n', "python")]
    assert got == [
        ("if", "keyword", 0, 2, 1, 0), ("x", "identifier", 3, 4, 1, 3),
        ("is", "keyword", 5, 7, 1, 5), ("None", "keyword", 8, 12, 1, 8),
        (":", "punctuation", 12, 13, 1, 12), ("# why", "comment", 15, 20, 1, 15),
        ("y", "identifier", 25, 26, 2, 4), ("=", "operator", 27, 28, 2, 6),
        ('f"{x}"', "string", 29, 35, 2, 8), ("+", "operator", 36, 37, 2, 15),
        ("0x1F", "number", 38, 42, 2, 17),
    ]


def test_java_php_rust_ruby_kinds():
    assert [(t.text, t.kind) for t in tokens(SNIPPETS["java"], "java")][:12] == [
        ("/** doc */", "comment"), ("@", "punctuation"), ("Override", "identifier"),
        ("public", "keyword"), ("<", "operator"), ("T", "identifier"), (">", "operator"),
        ("List", "identifier"), ("<", "operator"), ("T", "identifier"), (">", "operator"),
        ("f", "identifier")]
    assert [(t.text, t.kind) for t in tokens("<?php $x = $y->z ?? null;", "php")] == [
        ("<?php", "punctuation"), ("$x", "identifier"), ("=", "operator"), ("$y", "identifier"),
        ("->", "operator"), ("z", "identifier"), ("??", "operator"), ("null", "keyword"),
        (";", "punctuation")]
    assert [(t.text, t.kind) for t in tokens("fn f(&mut self) -> u8 { self.x }", "rust")] == [
        ("fn", "keyword"), ("f", "identifier"), ("(", "punctuation"), ("&", "operator"),
        ("mut", "keyword"), ("self", "keyword"), (")", "punctuation"), ("->", "operator"),
        ("u8", "keyword"), ("{", "punctuation"), ("self", "keyword"), (".", "punctuation"),
        ("x", "identifier"), ("}", "punctuation")]
    assert [(t.text, t.kind) for t in tokens("@x = nil unless y?", "ruby")] == [
        ("@x", "identifier"), ("=", "operator"), ("nil", "keyword"), ("unless", "keyword"),
        ("y?", "identifier")]


def test_c_macro_bodies_are_split_into_tokens():
    got = [(t.text, t.kind) for t in tokens("#define N (x) * 2\n", "c")]
    assert got == [("#define", "keyword"), ("N", "identifier"), ("(", "punctuation"),
                   ("x", "identifier"), (")", "punctuation"), ("*", "operator"), ("2", "number")]


@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_tokens_cover_every_non_space_character(language):
    source = SNIPPETS[language]
    toks = tokens(source, language)
    assert re.sub(r"\s+", "", "".join(t.text for t in toks)) == re.sub(r"\s+", "", source)
    for tok in toks:
        assert source[tok.start:tok.end] == tok.text
        assert tok.kind in KINDS
    assert all(a.end <= b.start for a, b in itertools.pairwise(toks))


def test_character_offsets_for_tokenizer_alignment():
    source = "naïve = '日本'  # ü\nprint(naïve)\n"
    mask = identifier_mask(source, "python")
    assert mask == [(0, 5, True), (6, 7, False), (8, 12, False), (14, 17, False),
                    (18, 23, True), (23, 24, False), (24, 29, True), (29, 30, False)]
    last = tokens(source, "python")[-2]
    assert (last.text, last.start_byte, last.line, last.col) == ("naïve", 30, 2, 6)


def test_keyword_sets():
    assert {"def", "lambda", "True", "None", "match"} <= keywords("python")
    assert "print" not in keywords("python")
    assert {"class", "instanceof", "null", "var"} <= keywords("java")
    assert "template" in keywords("c++") and "template" not in keywords("c")
    assert {"func", "defer", "chan"} <= keywords("go") and "nil" not in keywords("go")
    assert {"interface", "keyof"} <= keywords("typescript")
    assert len(keywords("go")) == 25
    with pytest.raises(ConfigError, match="has no bundled grammar"):
        keywords("cobol")
