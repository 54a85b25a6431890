"""Generation from diffusion-trained encoders (masked-LM checkpoints).

An encoder trained with the `diffusion` objective generates by iterative
unmasking (`codelm.objectives.diffusion.diffusion_generate`): the positions
to write start as `<mask>` and over `GenerationConfig.diffusion_steps`
rounds the most confident predictions are committed. Here that sampler is
wrapped in the same request/`Completion` interface as autoregressive
decoding:

- completion: template `prompt + max_new_tokens × <mask>`;
- infilling: `prefix + max_new_tokens × <mask> + suffix` (native to the
  objective: the middle sees both sides at every step).

The span length is fixed in advance (max_new_tokens), since the sampler
fills every mask; stop strings then cut the text. The sampler never
produces special tokens, so the text needs no filtering. Per-token
logprobs and beam search do not apply to this sampler.
"""

from __future__ import annotations

from typing import Any

from codelm.errors import ConfigError, InputError
from codelm.inference.engine import Completion, Request
from codelm.inference.sampling import row_seed
from codelm.inference.stops import find_stop


class DiffusionSampler:
    """Completes `Request`s with an encoder's masked-LM head."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        from codelm.objectives.diffusion import diffusion_generate

        self._generate = diffusion_generate
        self.model = model
        self.tokenizer = tokenizer
        self.mask_id = tokenizer.mask_token_id
        if self.mask_id is None:
            raise InputError(
                "this encoder's tokenizer has no mask token; diffusion generation needs <mask>"
            )

    def complete(self, req: Request) -> list[Completion]:
        """`req.config.n` completions of one request."""
        cfg = req.config
        if cfg.num_beams > 1:
            raise ConfigError("beam search does not apply to diffusion encoders; set num_beams 1")
        length = cfg.max_new_tokens
        start = len(req.prompt_ids)
        template = [*req.prompt_ids, *([self.mask_id] * length), *req.suffix_ids]
        out = []
        for j in range(cfg.n):
            ids, _ = self._generate(
                self.model,
                template,
                self.mask_id,
                steps=min(cfg.diffusion_steps, length),
                temperature=cfg.temperature,
                seed=row_seed(cfg.seed, *req.seed_path, j),
            )
            middle = ids[start : start + length]
            text = self.tokenizer.decode(
                middle, skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
            pos = find_stop(text, cfg.stop)
            finish, kind = "length", None
            if pos != -1:
                text, finish, kind = text[:pos], "stop", "string"
            out.append(
                Completion(
                    text=text,
                    token_ids=middle,
                    finish_reason=finish,
                    prompt_tokens=len(req.prompt_ids) + len(req.suffix_ids),
                    stop_kind=kind,
                )
            )
        return out
