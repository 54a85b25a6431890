"""`codelm quickstart`: the whole pipeline on embedded defaults, with a report."""

from codelm.quickstart.config import QuickstartConfig, plan
from codelm.quickstart.pipeline import run_quickstart

__all__ = ["QuickstartConfig", "plan", "run_quickstart"]
