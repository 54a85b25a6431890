"""Pretraining objectives for code; each registers itself by name on import.

| objective    | families                  | module        |
|--------------|---------------------------|---------------|
| clm          | decoder                   | clm.py        |
| fim          | decoder                   | fim.py        |
| mlm          | encoder                   | mlm.py        |
| rtd          | encoder                   | rtd.py        |
| span         | encdec, decoder           | span.py       |
| ul2          | encdec, decoder           | ul2.py        |
| diffusion    | encoder                   | diffusion.py  |
| identifier   | tagging: encoder, encdec; masked: encdec, decoder | identifier.py |
| contrastive  | encoder, decoder, encdec  | contrastive.py (views from transforms.py) |
| dataflow     | encoder                   | dataflow.py   |

Several objectives train together through `MixtureStream` (mixture.py).
"""

from codelm.objectives import (  # noqa: F401  (importing registers them)
    clm,
    contrastive,
    dataflow,
    diffusion,
    fim,
    identifier,
    mlm,
    rtd,
    span,
    ul2,
)
from codelm.objectives.base import (
    ExampleStream,
    LossOutput,
    Objective,
    ObjectiveConfig,
    reduce_metrics,
)
from codelm.objectives.mixture import MixtureStream, build_objectives
from codelm.objectives.registry import OBJECTIVES, build_objective

__all__ = [
    "OBJECTIVES",
    "ExampleStream",
    "LossOutput",
    "MixtureStream",
    "Objective",
    "ObjectiveConfig",
    "build_objective",
    "build_objectives",
    "reduce_metrics",
]
