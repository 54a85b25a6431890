"""The accelerate launch configs codelm ships (`train/accelerate/*.yaml`).

    accelerate launch --config_file "$(python -m codelm.train.launch ddp_cpu)" -m codelm train CONFIG
"""

from __future__ import annotations

import sys
from pathlib import Path

from codelm.errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "accelerate"


def accelerate_config(name: str) -> Path:
    """Path of a shipped accelerate config: ddp_cpu, fsdp, deepspeed_zero2."""
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"no shipped accelerate config '{name}'; known: {known}")
    return path


if __name__ == "__main__":
    print(accelerate_config(sys.argv[1] if len(sys.argv) > 1 else "ddp_cpu"))
