"""Training engine: `codelm train` and `codelm.train.train(cfg)`.

One loop for every model family and objective (see `loop.py`), exact resume
from atomic HF-format checkpoints, loss normalised by target tokens across
accumulation and processes, measured MFU, and distribution through accelerate.
"""

from codelm.train.config import TrainConfig
from codelm.train.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
