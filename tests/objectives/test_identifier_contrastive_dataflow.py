from __future__ import annotations

import itertools
import re

import pytest
import torch

from codelm.analysis import data_flow, identifiers
from codelm.errors import ConfigError
from codelm.objectives import ExampleStream, build_objective
from codelm.objectives.base import IGNORE_INDEX, make_rng, reduce_metrics
from codelm.objectives.contrastive import function_views
from codelm.objectives.text import decode

SENTINEL = re.compile(r"<extra_id_(\d+)>")


def restore(masked_text: str, target_text: str) -> tuple[str, dict[int, str]]:
    """Replace each sentinel of the input by the name the target gives it."""
    names = {int(i): name for i, name in re.findall(r"<extra_id_(\d+)>([^<]*)", target_text)}
    return SENTINEL.sub(lambda m: names[int(m[1])], masked_text), names


@pytest.mark.parametrize(("family", "mask_rate"), [("encdec", 1.0), ("decoder", 0.5)])
def test_masked_identifier_prediction_on_stdlib(tokenizer, snippets, family, mask_rate):
    seq_len = 128
    mip = build_objective({"name": "identifier", "task": "masked", "mask_rate": mask_rate}, tokenizer, family, seq_len)
    checked = 0
    for i, doc in enumerate(snippets[:300]):
        for segment in mip.encode(doc, make_rng(0, i)):
            ex = mip.finish(segment, make_rng(1, i))
            if family == "encdec":
                inputs, targets = ex["input_ids"], ex["labels"]
                assert len(inputs) <= seq_len and len(targets) <= seq_len
            else:
                n = ex["prefix_len"]
                inputs, targets = ex["input_ids"][:n], ex["input_ids"][n:]
                assert ex["labels"][:n] == [IGNORE_INDEX] * n and len(ex["input_ids"]) <= seq_len
            masked_text, target_text = decode(tokenizer, inputs[:-1]), decode(tokenizer, targets[:-1])
            original, names = restore(masked_text, target_text)
            # the chunk comes back exactly once each sentinel is replaced by its name
            assert original in doc["content"]
            # one sentinel per distinct name, numbered by first appearance
            assert sorted(names) == list(range(len(names)))
            assert len(set(names.values())) == len(names)
            # every occurrence (as the analysis finds them in the document) of a
            # chosen name inside the chunk was masked
            k = doc["content"].index(original)
            occurrences: dict[str, int] = {}
            for name, occs in identifiers(doc["content"], "python").items():
                inside = [o for o in occs if k <= o.start and o.end <= k + len(original)]
                if inside:
                    occurrences[name] = len(inside)
            for j, name in names.items():
                assert masked_text.count(f"<extra_id_{j}>") == occurrences[name]
            remaining = {n for n in occurrences if n not in names.values()}
            if mask_rate == 1.0:
                assert not remaining
            checked += 1
    assert checked >= 250


def test_identifier_tagging_labels_identifier_tokens(tokenizer, make_model):
    it = build_objective({"name": "identifier", "task": "tagging"}, tokenizer, "encoder", 64)
    doc = {"content": "def total(xs):\n    return sum(xs) + 1\n", "language": "python"}
    segment = next(it.encode(doc, make_rng(0)))
    tokens = [decode(tokenizer, [t]) for t in segment.ids]
    runs = "".join(tok if tag else "|" for tok, tag in zip(tokens, segment.extra["tags"], strict=True))
    assert runs.split("|") and [r.strip() for r in runs.split("|") if r] == ["total", "xs", "sum", "xs"]
    stream = ExampleStream(it, lambda e, s: iter([doc] * 40), 0)
    batch = it.collate(list(itertools.islice(stream, 2)))
    model = make_model("encoder", len(tokenizer))
    out = it.loss(model, batch)
    assert out.num_targets.item() == 2 * 64 and torch.isfinite(out.loss_sum)
    assert 0 <= reduce_metrics([out.metrics])["tagging_accuracy"] <= 1


def test_only_tagging_has_a_head(tokenizer, make_model):
    model = make_model("encdec", len(tokenizer))
    tagging = build_objective({"name": "identifier", "task": "tagging"}, tokenizer, "encdec", 64)
    masked = build_objective({"name": "identifier", "task": "masked"}, tokenizer, "encdec", 64)
    assert set(tagging.auxiliary_modules(model)) == {"identifier_head"}
    assert masked.auxiliary_modules(model) == {} and masked.auxiliary_modules() == {}


def test_identifier_task_family_pairs_are_config_errors(tokenizer):
    with pytest.raises(ConfigError, match=r"identifier \(task masked\)' does not fit the encoder family; it supports: encdec, decoder"):
        build_objective({"name": "identifier", "task": "masked"}, tokenizer, "encoder", 64)
    with pytest.raises(ConfigError, match=r"task tagging\)' does not fit the decoder family; it supports: encoder, encdec"):
        build_objective({"name": "identifier", "task": "tagging"}, tokenizer, "decoder", 64)


def test_function_views_split_docstrings(stdlib_docs):
    doc = next(d for d in stdlib_docs if d["path"] == "textwrap.py")
    views = {v.name: v for v in function_views(doc["content"], "python")}
    dedent = views["dedent"]
    assert dedent.code.startswith("def dedent(text):")
    assert dedent.docstring.startswith("Remove any common leading whitespace")
    assert '"""' not in dedent.code_without_docstring
    assert dedent.code_without_docstring.startswith("def dedent(text):\n")
    compile(dedent.code_without_docstring, "x", "exec")
    # TextWrapper.wrap, dedented from inside its class
    methods = [v for v in function_views(doc["content"], "python") if v.code.startswith("def wrap(self, text):")]
    assert len(methods) == 1
    compile(methods[0].code, "x", "exec")


@pytest.mark.parametrize("family", ["encoder", "decoder", "encdec"])
def test_contrastive_views_and_info_nce(tokenizer, stdlib_docs, make_model, family):
    obj = build_objective({"name": "contrastive"}, tokenizer, family, 64)
    docs = [d for d in stdlib_docs if d["path"] in ("textwrap.py", "bisect.py", "heapq.py", "shlex.py")]
    examples = list(itertools.islice(ExampleStream(obj, lambda e, s: iter(docs[s:]), 0), 60))
    kinds = {ex["view"] for ex in examples}
    assert kinds == {0, 1, 2}  # docstring, transform and dropout pairs all occur
    for ex in examples:
        assert ex["input_ids"][-1] == 0 and ex["pair_input_ids"][-1] == 0 and len(ex["input_ids"]) <= 64
        if ex["view"] == 2:
            assert ex["input_ids"] == ex["pair_input_ids"]
        else:
            assert ex["input_ids"] != ex["pair_input_ids"]
    model = make_model(family, len(tokenizer))
    batch = obj.collate(examples[:8])
    out = obj.loss(model, batch)
    assert out.num_targets.item() == 8
    # manual InfoNCE from the same embeddings
    a, b = obj.embed(model, batch), obj.embed(model, batch, prefix="pair_")
    logits = a @ b.T / 0.05
    target = torch.arange(8)
    manual = (torch.nn.functional.cross_entropy(logits, target, reduction="sum")
              + torch.nn.functional.cross_entropy(logits.T, target, reduction="sum")) / 2
    assert torch.allclose(out.loss_sum, manual, atol=1e-4)


def test_dataflow_graph_matches_analysis_and_mask(tokenizer, make_model):
    obj = build_objective({"name": "dataflow", "edge_mask_rate": 0.5, "align_mask_rate": 0.5}, tokenizer, "encoder", 128)
    code = "def f(a, b):\n    x = a + b\n    y = x * 2\n    return y - a\n"
    graph = obj.graph(code, "python", data_flow)
    dfg = data_flow(code, "python")
    assert len(graph["align"]) == len(dfg.nodes)
    ids = tokenizer(code, add_special_tokens=False)["input_ids"]
    for node, toks in zip(dfg.nodes, graph["align"], strict=True):
        assert node.name in decode(tokenizer, [ids[t] for t in toks])
    assert sorted(tuple(e) for e in graph["edges"]) == sorted({(e.dst, e.src) for e in dfg.edges})
    segment = next(iter(obj.encode({"content": code, "language": "python"}, make_rng(0))))
    ex = obj.finish(segment, make_rng(3))
    batch = obj.collate([ex])
    n = ex["n_code"]
    attend = batch["attention_mask"][0, 0]
    assert attend[:n, :n].all()
    hidden_e, hidden_a = set(ex["edge_hidden"]), set(ex["align_hidden"])
    for dst, src in ex["edges"]:
        assert bool(attend[n + dst, n + src]) == (dst not in hidden_e and src not in hidden_e)
    for node, toks in enumerate(ex["align"]):
        for t in toks:
            assert bool(attend[n + node, t]) == (node not in hidden_a) == bool(attend[t, n + node])
    assert not attend[:n, n:][~torch.tensor([[t in toks and i not in hidden_a for i, toks in enumerate(ex["align"])]
                                             for t in range(n)])].any()
    positives = [q for q in ex["edge_queries"] if q[2] == 1]
    negatives = [q for q in ex["edge_queries"] if q[2] == 0]
    assert positives and len(negatives) <= len(positives)
    assert all((q[0], q[1]) in {tuple(e) for e in ex["edges"]} for q in positives)
    assert batch["position_ids"][0, n:].eq(0).all() and batch["position_ids"][0, :n].tolist() == list(range(1, n + 1))
    model = make_model("encoder", len(tokenizer))
    out = obj.loss(model, batch)
    metrics = reduce_metrics([out.metrics])
    assert torch.isfinite(out.loss_sum) and {"mlm_loss", "edge_loss", "align_loss"} <= set(metrics)


def test_dataflow_node_vectors_average_their_visible_tokens(tokenizer, make_model):
    obj = build_objective({"name": "dataflow", "edge_mask_rate": 0.0, "align_mask_rate": 0.0, "mlm_rate": 0.0},
                          tokenizer, "encoder", 128)
    code = "def g(k):\n    return k + k\n"
    ex = obj.finish(next(obj.encode({"content": code, "language": "python"}, make_rng(0))), make_rng(0))
    batch = obj.collate([ex])
    model = make_model("encoder", len(tokenizer))
    seen = {}
    model.register_forward_pre_hook(lambda m, args, kwargs: seen.update(kwargs), with_kwargs=True)
    obj.loss(model, batch)
    inputs = seen["inputs_embeds"][0]
    table = model.get_input_embeddings()(batch["input_ids"][0])
    n = ex["n_code"]
    assert batch["node_mask"][0].sum().item() == len(ex["align"]) and n + len(ex["align"]) == ex["length"]
    assert torch.allclose(inputs[:n], table[:n])  # code tokens keep their own embedding
    for node, toks in enumerate(ex["align"]):
        assert torch.allclose(inputs[n + node], table[toks].mean(0), atol=1e-6)
