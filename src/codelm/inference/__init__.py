"""Inference: generation, infilling and the OpenAI/llama.cpp/Mistral-compatible server.

The public API is imported lazily so `import codelm.inference` stays cheap
(no torch until a generator is loaded):

- `load_generator(model_dir, dtype=, quantize=, device=) -> Generator`
- `Generator.generate(prompts, GenerationConfig) -> list[list[Completion]]`
- `Generator.infill(prefix, suffix, GenerationConfig, mode="auto"|"psm"|"spm"|"sentinel")`
- `Generator.stream(prompt, GenerationConfig) -> Iterator[str]`
- `create_app(ServeConfig)` / `serve(ServeConfig)` for the HTTP server
"""

from __future__ import annotations

from codelm.lazy import lazy_getattr

_EXPORTS = {
    "GenerationConfig": "codelm.inference.config",
    "LoadConfig": "codelm.inference.config",
    "ServeConfig": "codelm.inference.config",
    "Completion": "codelm.inference.engine",
    "Engine": "codelm.inference.engine",
    "Request": "codelm.inference.engine",
    "Generator": "codelm.inference.generator",
    "load_generator": "codelm.inference.generator",
    "load_model": "codelm.inference.loading",
    "LoadedModel": "codelm.inference.loading",
    "build_infill": "codelm.inference.fim",
    "find_fim_tokens": "codelm.inference.fim",
    "create_app": "codelm.inference.server.app",
    "serve": "codelm.inference.server.app",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
