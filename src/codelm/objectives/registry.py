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
