"""Pretraining objectives for code; each registers itself by name on import."""

from codelm.objectives import clm  # noqa: F401  (registers "clm")
from codelm.objectives.base import ExampleStream, LossOutput, Objective, ObjectiveConfig
from codelm.objectives.registry import OBJECTIVES, build_objective

__all__ = ["OBJECTIVES", "ExampleStream", "LossOutput", "Objective", "ObjectiveConfig", "build_objective"]
