"""Beam search over the same runner and cache as sampling.

The algorithm is the one transformers' `generate(num_beams=K)` runs by
default, so results agree with it token for token (tested):

- every step keeps the 2K best continuations of all K beams of a prompt,
  ranked by the running sum of log-probabilities;
- continuations that end (EOS/stop token, a stop string, the length limit)
  and rank among the first K become finished hypotheses with score
  `sum_logprobs / length ** length_penalty`; the K best finished ones are kept;
- the K best continuations that did not end are the next beams;
- a prompt is done once K hypotheses are finished and the best running beam,
  scored at its current length, cannot beat the worst of them (the
  `early_stopping=False` heuristic), or when every continuation ended.

Beam search is deterministic and batch-at-once: it is a library feature
(`GenerationConfig.num_beams`), not something the server interleaves with
sampled requests.
"""

from __future__ import annotations

import torch

from codelm.inference.engine import Completion, Engine, Request
from codelm.inference.stops import find_stop

NEG = -1.0e9


def beam_search(engine: Engine, requests: list[Request]) -> list[list[Completion]]:
    """Beam search for each request (all with the same config); returns `config.n` completions each."""
    cfg = requests[0].config
    K, lp_pow = cfg.num_beams, cfg.length_penalty
    runner, tok = engine.runner, engine.tokenizer
    B = len(requests)
    stop_ids = set(cfg.stop_token_ids) | (set() if cfg.ignore_eos else engine.eos_ids)
    for r in requests:
        stop_ids |= set(r.extra_stop_ids)
    used = max(
        len(r.prompt_ids) if runner.kind == "decoder" else 1 + len(r.decoder_prefix)
        for r in requests
    )
    limit = max(1, min(cfg.max_new_tokens, engine.max_model_len - used))

    prompts = [r.prompt_ids or [engine._fallback_bos()] for r in requests]
    prefixes = [r.decoder_prefix for r in requests] if runner.kind == "encdec" else None
    batch, logits = runner.prefill(prompts, prefixes)
    batch.repeat_rows([K] * B)
    logits = logits.repeat_interleave(K, dim=0)  # (B*K, V)
    V = logits.size(-1)

    running_scores = torch.full((B, K), NEG)
    running_scores[:, 0] = (
        0.0  # only beam 0 is live at first, so the K beams do not start identical
    )
    running: list[list[list[int]]] = [[[] for _ in range(K)] for _ in range(B)]
    finished: list[list[tuple[float, list[int], str]]] = [[] for _ in range(B)]
    open_ = [True] * B
    stop_ids_t = torch.tensor(sorted(stop_ids), dtype=torch.long) if stop_ids else None

    cur = 0  # tokens generated so far by every running beam
    while True:
        logp = torch.log_softmax(logits, dim=-1).view(B, K, V) + running_scores[:, :, None]
        top_scores, top_idx = torch.topk(logp.view(B, K * V), 2 * K, dim=-1)  # (B, 2K)
        src_beam, tokens = top_idx // V, top_idx % V
        ends_by_token = (
            torch.isin(tokens, stop_ids_t)
            if stop_ids_t is not None
            else torch.zeros_like(tokens, dtype=torch.bool)
        )
        at_limit = cur + 1 >= limit
        hits = ends_by_token | at_limit
        reasons = [
            ["stop" if bool(ends_by_token[b, c]) else "length" for c in range(2 * K)]
            for b in range(B)
        ]
        cands = [
            [running[b][int(src_beam[b, c])] + [int(tokens[b, c])] for c in range(2 * K)]
            for b in range(B)
        ]
        if cfg.stop:
            for b in range(B):
                for c in range(2 * K):
                    if not hits[b, c]:
                        text = tok.decode([t for t in cands[b][c] if t not in engine.special_ids])
                        if find_stop(text, cfg.stop) != -1:
                            hits[b, c] = True
                            reasons[b][c] = "stop"
        # finished hypotheses: only those ranked in the first K count
        for b in range(B):
            if not open_[b]:
                continue
            norm = top_scores[b] / float(cur + 1) ** lp_pow
            for c in range(K):
                if hits[b, c]:
                    finished[b].append((float(norm[c]), cands[b][c], reasons[b][c]))
            finished[b] = sorted(finished[b], key=lambda h: -h[0])[:K]
        # next running beams: the K best continuations that did not end
        masked = top_scores + hits.float() * NEG
        next_scores, pick = torch.topk(masked, K, dim=-1)  # (B, K), indices into the 2K
        running = [[cands[b][int(pick[b, k])] for k in range(K)] for b in range(B)]
        running_scores = next_scores
        cur += 1
        for b in range(B):
            if open_[b] and len(finished[b]) == K:
                best_possible = float(running_scores[b, 0]) / float(cur) ** lp_pow
                if best_possible <= finished[b][-1][0]:
                    open_[b] = False
        if not any(open_) or bool(hits.all()):
            break
        rows = (src_beam.gather(1, pick) + torch.arange(B)[:, None] * K).view(-1)
        next_tokens = tokens.gather(1, pick).view(-1)
        batch.select(rows)
        logits = runner.decode(batch, next_tokens)

    results: list[list[Completion]] = []
    for b, req in enumerate(requests):
        hyps = finished[b] or [
            (float(running_scores[b, k]) / float(cur) ** lp_pow, running[b][k], "length")
            for k in range(K)
        ]
        out = []
        for score, hyp_ids, reason in hyps[: cfg.n]:
            ids = hyp_ids
            if reason == "stop" and ids and ids[-1] in stop_ids:
                ids = ids[:-1]  # the stop token is not part of the completion
            text = tok.decode([t for t in ids if t not in engine.special_ids])
            if cfg.stop:
                pos = find_stop(text, cfg.stop)
                if pos != -1:
                    text = text[:pos]
            kind = None if reason == "length" else ("token" if ids != hyp_ids else "string")
            out.append(
                Completion(
                    text=text,
                    token_ids=ids,
                    finish_reason=reason,
                    prompt_tokens=len(req.prompt_ids),
                    score=score,
                    stop_kind=kind,
                )
            )
        results.append(out)
    return results
