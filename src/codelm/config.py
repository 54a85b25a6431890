"""Configs: pydantic models, YAML loading, dotted overrides, resolved saving.

Every pipeline step is driven by a pydantic model. Values come from three
layers, later ones winning: a shipped preset < the user's YAML file <
`--set a.b.c=value` overrides. Validation errors become one-line
`ConfigError`s that name the dotted key, where the value came from, and what
was expected.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from codelm.errors import ConfigError

C = TypeVar("C", bound=BaseModel)


class Section(BaseModel):
    """Base of every config model: unknown keys are errors, assignment validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a non-mapping is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist; pass the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file '{path}' is not valid YAML{where}; fix the syntax") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file '{path}' is not UTF-8 text") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file '{path}' must hold a mapping of keys, not a {type(data).__name__}"
        )
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge mappings recursively; values of `override` win, lists are replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_value(text: str) -> Any:
    """Parse the value of `--set key=value`.

    Scalars stay strings so pydantic's lax coercion applies the field's own type
    (YAML would read `1e-3` as a string and `off` as False). Collections and null
    are read as YAML.
    """
    stripped = text.strip()
    if stripped[:1] in "[{" or stripped in ("null", "~"):
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError:
            raise ConfigError(f"--set value '{text}' is not valid YAML; quote or fix it") from None
    return text


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn `["a.b=1", "c=x"]` into `{"a": {"b": "1"}, "c": "x"}`."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set '{item}' must look like a.b.c=value")
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set '{item}' conflicts with an earlier --set of '{part}'")
            node = child
        node[parts[-1]] = _parse_value(value)
    return result


def _has_key(data: Mapping[str, Any], loc: Sequence[str | int]) -> bool:
    node: Any = data
    for part in loc:
        in_mapping = isinstance(node, Mapping) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_mapping or in_list:
            node = node[part]
        else:
            return False
    return True


def _model_at(cls: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The config model class that holds the key at `loc` (for listing known keys)."""
    current: Any = cls
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """Unwrap Optional/list/dict annotations down to a BaseModel class, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, dict, typing.Annotated):
        for arg in typing.get_args(annotation):
            inner = _inner_model(arg)
            if inner is not None:
                return inner
    return None


def _describe_annotation(cls: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    parent = _model_at(cls, loc[:-1]) if loc else None
    if parent is None or not isinstance(loc[-1], str):
        return None
    field = parent.model_fields.get(loc[-1])
    if field is None:
        return None
    text = repr(field.annotation) if not isinstance(field.annotation, type) else field.annotation.__name__
    return text.replace("typing.", "")


def format_validation_error(
    exc: ValidationError,
    cls: type[BaseModel],
    sources: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> str:
    """One line naming the first bad key, its source and what was expected."""
    errors = exc.errors()
    first = errors[0]
    loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    key = ".".join(str(p) for p in loc) or "<top level>"
    source = next((name for name, data in reversed(sources) if _has_key(data, loc)), None)
    origin = f" (from {source})" if source else ""
    more = f" [and {len(errors) - 1} more problem(s)]" if len(errors) > 1 else ""
    if first["type"] == "extra_forbidden":
        holder = _model_at(cls, loc[:-1])
        known = ", ".join(holder.model_fields) if holder is not None else "?"
        return f"unknown config key '{key}'{origin}; known keys here: {known}{more}"
    if first["type"] == "missing":
        return f"config key '{key}' is required but missing; set it in the config file or with --set {key}=...{more}"
    expected = _describe_annotation(cls, loc)
    want = f"expected {expected}: " if expected else ""
    got = first.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    return f"config key '{key}'{origin} = {shown} is invalid: {want}{first['msg']}{more}"


def validate(cls: type[C], data: Mapping[str, Any], sources: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> C:
    """Validate `data` against `cls`, turning errors into a one-line ConfigError."""
    try:
        return cls.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, cls, sources or [("config", data)])) from None


def resolve_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    preset: str | None = None,
) -> C:
    """Build a config from preset < file < overrides.

    The file may name its base preset with a top-level `preset:` key; an explicit
    `preset` argument wins over it.
    """
    from codelm.presets import load_preset

    file_data = load_yaml(path) if path is not None else {}
    preset_name = preset or file_data.pop("preset", None)
    file_data.pop("preset", None)
    preset_data = load_preset(preset_name) if preset_name else {}
    override_data = parse_overrides(overrides)
    merged = deep_merge(deep_merge(preset_data, file_data), override_data)
    sources = [
        (f"preset '{preset_name}'", preset_data),
        (f"'{path}'", file_data),
        ("--set", override_data),
    ]
    return validate(cls, merged, sources)


def dump_config(cfg: BaseModel) -> str:
    """The resolved config as YAML (what a run directory saves)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


# Top-level config models by kind, as "module:Class" so nothing heavy is
# imported until asked. Each feature adds its line when it lands.
CONFIG_KINDS: dict[str, str] = {
    "data": "codelm.data.config:DataConfig",
    "tokenizer": "codelm.tokenizer.train:TokenizerConfig",
    "model": "codelm.models.config:ModelConfig",
    "train": "codelm.train.config:TrainConfig",
    "eval": "codelm.eval.config:EvalConfig",
    "sandbox": "codelm.eval.sandbox.config:SandboxConfig",
    "generate": "codelm.inference.config:GenerationConfig",
    "serve": "codelm.inference.config:ServeConfig",
    "quickstart": "codelm.quickstart.config:QuickstartConfig",
}


def config_class(kind: str) -> type[BaseModel]:
    """The config model of a kind (`train`, `data`, ...), imported lazily."""
    import importlib

    if kind not in CONFIG_KINDS:
        known = ", ".join(sorted(CONFIG_KINDS)) or "none"
        raise ConfigError(f"unknown config kind '{kind}'; known kinds: {known}")
    module, _, name = CONFIG_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
