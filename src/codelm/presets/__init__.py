"""Shipped YAML presets.

A preset is `presets/<kind>/<name>.yaml`: a one-line `description:` plus the
config keys it sets. Presets are the lowest layer of a resolved config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codelm.errors import ConfigError

PRESET_ROOT = Path(__file__).parent


@dataclass(frozen=True)
class PresetInfo:
    kind: str
    name: str
    description: str
    path: Path

    @property
    def full_name(self) -> str:
        return f"{self.kind}/{self.name}"


def list_presets(kind: str | None = None) -> list[PresetInfo]:
    """All shipped presets (optionally of one kind), sorted by kind then name."""
    from codelm.config import load_yaml

    found = []
    for path in sorted(PRESET_ROOT.glob("*/*.yaml")):
        if kind is not None and path.parent.name != kind:
            continue
        data = load_yaml(path)
        description = str(data.get("description", "")).strip().splitlines()
        found.append(PresetInfo(path.parent.name, path.stem, description[0] if description else "", path))
    return found


def find_preset(name: str, kind: str | None = None) -> PresetInfo:
    """Find a preset by `kind/name` or by a bare name unique across kinds."""
    presets = list_presets(kind)
    matches = [p for p in presets if name in (p.full_name, p.name)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(p.full_name for p in presets) or "none"
    if not matches:
        raise ConfigError(f"unknown preset '{name}'; known presets: {known}")
    raise ConfigError(
        f"preset name '{name}' is ambiguous ({', '.join(p.full_name for p in matches)}); use kind/name"
    )


def load_preset(name: str, kind: str | None = None) -> dict[str, Any]:
    """The config keys a preset sets (its description removed)."""
    from codelm.config import load_yaml

    data = load_yaml(find_preset(name, kind).path)
    data.pop("description", None)
    return data
