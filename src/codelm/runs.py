"""Run directories: one per command invocation.

`runs/<name>/` holds `config.yaml` (the resolved config), `log.jsonl` (one JSON
event per line: metrics, progress, warnings), the command's artifacts, and a
human-readable `summary.md`. Everything is a plain file a person or another
tool can open.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from codelm.config import dump_config
from codelm.errors import InputError


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return str(value)


def generate_name(prefix: str) -> str:
    """`<prefix>-YYYYmmdd-HHMMSS-xxxx`: sortable by time, unique across processes."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass
class RunDir:
    path: Path

    @classmethod
    def create(cls, root: str | Path = "runs", name: str | None = None, prefix: str = "run") -> RunDir:
        """Create (or reopen, for resume) `root/name`; a name is generated when absent."""
        path = Path(root) / (name or generate_name(prefix))
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create run directory '{path}': {exc.strerror}; choose another --out") from None
        return cls(path)

    @classmethod
    def at(cls, path: str | Path) -> RunDir:
        """Use an explicit directory (e.g. `--out DIR`) as the run directory."""
        path = Path(path)
        return cls.create(path.parent, path.name)

    def file(self, name: str) -> Path:
        """Path of an artifact inside the run directory (parents created)."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def save_config(self, cfg: BaseModel) -> Path:
        target = self.file("config.yaml")
        atomic_write_text(target, dump_config(cfg))
        return target

    def log(self, event: str, **fields: Any) -> None:
        """Append one event to `log.jsonl` (flushed, so a killed run keeps it)."""
        record = {"time": round(time.time(), 3), "event": event, **fields}
        with self.file("log.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_jsonable) + "\n")

    def read_log(self, event: str | None = None) -> list[dict[str, Any]]:
        target = self.path / "log.jsonl"
        if not target.exists():
            return []
        records = []
        for line in target.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            if event is None or record.get("event") == event:
                records.append(record)
        return records

    def write_json(self, name: str, obj: Any) -> Path:
        target = self.file(name)
        atomic_write_text(target, json.dumps(obj, indent=2, default=_jsonable) + "\n")
        return target

    def write_summary(self, markdown: str) -> Path:
        target = self.file("summary.md")
        atomic_write_text(target, markdown.rstrip() + "\n")
        return target


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file and rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
