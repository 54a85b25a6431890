"""Objectives by name, and building one from its config mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codelm.config import validate
from codelm.objectives.base import Objective
from codelm.registry import Registry

OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def register(cls: type[Objective]) -> type[Objective]:
    """Class decorator: make an objective available by its `name`."""
    OBJECTIVES.add(cls.name, cls)
    return cls


def build_objective(
    spec: Mapping[str, Any], tokenizer: Any, family: str, seq_len: int, key: str = "objective"
) -> Objective:
    """Validate `spec` (a mapping with `name` and parameters) and build the objective."""
    name = spec.get("name")
    cls = OBJECTIVES.get(str(name), key=f"{key}.name")
    config = validate(cls.Config, spec, [(key, spec)])
    return cls(config, tokenizer, family, seq_len)


def _type_name(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else repr(annotation)
    return text.replace("typing.", "").replace("codelm.objectives.ul2.", "")


def describe_objectives(name: str | None = None) -> list[dict[str, Any]]:
    """Objectives with their families, summary and parameters (what `codelm objectives` prints)."""
    import inspect

    import codelm.objectives  # noqa: F401  (registers every objective)

    items = [(name, OBJECTIVES.get(name, key="objective"))] if name else list(OBJECTIVES.items())
    out = []
    for key, cls in items:
        module = inspect.getmodule(cls)
        doc = (module.__doc__ or cls.__doc__ or "").strip()
        params = []
        for field, info in cls.Config.model_fields.items():
            if field == "name":
                continue
            default = info.get_default(call_default_factory=True)
            if hasattr(default, "model_dump"):
                default = default.model_dump()
            elif isinstance(default, list):
                default = [d.model_dump() if hasattr(d, "model_dump") else d for d in default]
            params.append({
                "key": field,
                "type": _type_name(info.annotation),
                "default": default,
                "description": info.description or "",
            })
        out.append({
            "name": key,
            "families": list(cls.families),
            "family_detail": getattr(cls, "family_detail", None),
            "packed": bool(cls.packed),
            "summary": doc.splitlines()[0] if doc else "",
            "parameters": params,
        })
    return out
