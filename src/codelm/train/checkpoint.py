"""Checkpoints: an HF model directory plus the training state, written atomically.

Layout of `<run>/checkpoints/step-NNNNNN/`:

    config.json, model.safetensors, generation_config.json   model (save_pretrained, unwrapped)
    tokenizer.json, tokenizer_config.json, ...               tokenizer (save_pretrained)
    training_state/                                          accelerate save_state: optimizer.bin,
        scheduler.bin, random_states_<rank>.pkl, scaler.pt   scheduler, RNG of every rank, fp16 scaler
        data_rank<r>.pkl                                     stream position each rank consumed
        aux_<name>.safetensors                               objective auxiliary modules (e.g. RTD generator)
    trainer_state.json                                       step, best, counters; written last

The directory is built as `.tmp-step-NNNNNN` and renamed into place, so a
`step-*` directory is always complete; a kill during saving leaves only a
temp directory that the next start deletes. `<run>/last` and `<run>/best`
are symlinks to checkpoint directories. `AutoModelFor*.from_pretrained` and
`AutoTokenizer.from_pretrained` open any checkpoint directory (or the
symlinks) directly.

Model weights are saved once, by `save_pretrained` from the unwrapped model
(no `module.` / `_orig_mod.` prefixes); accelerate's save_state writes
everything else (a pre-hook drops its copy of the weights), which keeps
optimizer and RNG handling right under DDP, FSDP and DeepSpeed.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from codelm.errors import InputError
from codelm.runs import atomic_write_text

STEP_DIR = re.compile(r"^step-(\d{6,})$")
STATE_FILE = "trainer_state.json"
TRAINING_STATE = "training_state"


@dataclass(frozen=True)
class CheckpointInfo:
    step: int
    path: Path


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def list_checkpoints(root: Path) -> list[CheckpointInfo]:
    """Complete checkpoints under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = STEP_DIR.match(child.name)
        if match and (child / STATE_FILE).is_file():
            found.append(CheckpointInfo(int(match.group(1)), child))
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(root: Path) -> CheckpointInfo | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def remove_stale(root: Path) -> None:
    """Delete temp and half-deleted directories a killed run left behind."""
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith((".tmp-", ".trash-")):
                shutil.rmtree(child, ignore_errors=True)


def _remove(path: Path) -> None:
    trash = path.with_name(f".trash-{path.name}")
    os.replace(path, trash)  # atomic: a half-deleted checkpoint is never listed as complete
    shutil.rmtree(trash, ignore_errors=True)


def point_symlink(link: Path, target: Path) -> None:
    """Atomically make `link` a relative symlink to `target`."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.lnk")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(target, link.parent))
    os.replace(tmp, link)


def prune(root: Path, keep_last: int, protected: set[int]) -> list[int]:
    """Keep the newest `keep_last` checkpoints plus the protected steps; return removed steps."""
    candidates = [c for c in list_checkpoints(root) if c.step not in protected]
    removed = []
    for info in candidates[: max(0, len(candidates) - keep_last)]:
        _remove(info.path)
        removed.append(info.step)
    return removed


def install_accelerate_hooks(accelerator: Any) -> None:
    """Make save_state/load_state skip model weights (save_pretrained owns them)."""

    def drop_weights(models: list, weights: list, output_dir: str) -> None:
        weights.clear()

    def skip_model_loading(models: list, input_dir: str) -> None:
        models.clear()

    accelerator.register_save_state_pre_hook(drop_weights)
    accelerator.register_load_state_pre_hook(skip_model_loading)


def model_state_dict(accelerator: Any, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The full, unprefixed state dict (gathered across ranks under FSDP/ZeRO-3)."""
    from accelerate.utils import DistributedType

    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        return accelerator.get_state_dict(model)
    return accelerator.unwrap_model(model, keep_torch_compile=False).state_dict()


def save_checkpoint(
    accelerator: Any,
    model: torch.nn.Module,
    tokenizer: Any,
    root: Path,
    step: int,
    trainer_state: dict[str, Any],
    stream_state: dict[str, Any],
    aux_modules: dict[str, torch.nn.Module],
) -> Path:
    """Write checkpoint `step` (every rank calls this); returns its final path."""
    from safetensors.torch import save_model

    final = root / step_dir_name(step)
    tmp = root / f".tmp-{final.name}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / TRAINING_STATE).mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp / TRAINING_STATE))
    rank = accelerator.process_index
    # Pickle, not JSON: the pending examples may hold numpy arrays and tuples,
    # and resuming must hand the objective back exactly what it produced.
    data_file = tmp / TRAINING_STATE / f"data_rank{rank}.pkl"
    with open(data_file, "wb") as fh:
        pickle.dump(stream_state, fh, protocol=pickle.HIGHEST_PROTOCOL)
    state_dict = model_state_dict(accelerator, model)
    if accelerator.is_main_process:
        inner = accelerator.unwrap_model(model, keep_torch_compile=False)
        inner.save_pretrained(str(tmp), state_dict=state_dict, is_main_process=True)
        tokenizer.save_pretrained(str(tmp))
        for name, module in aux_modules.items():  # save_model handles tied (shared) tensors
            save_model(module, str(tmp / TRAINING_STATE / f"aux_{name}.safetensors"))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        # Written last: its presence marks the directory complete.
        atomic_write_text(tmp / STATE_FILE, json.dumps({**trainer_state, "step": step}, indent=2) + "\n")
        if final.exists():
            _remove(final)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()
    return final


def load_training_state(
    accelerator: Any, path: Path, aux_modules: dict[str, torch.nn.Module]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restore optimizer, scheduler, scaler and RNG (via accelerate); return (trainer state, stream state).

    Model weights are not touched here: the model was built from `path` itself.
    """
    from safetensors.torch import load_model

    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise InputError(f"'{path}' is not a complete codelm checkpoint (no {STATE_FILE})")
    accelerator.load_state(str(path / TRAINING_STATE))
    trainer_state = json.loads(state_file.read_text(encoding="utf-8"))
    rank = accelerator.process_index
    data_file = path / TRAINING_STATE / f"data_rank{rank}.pkl"
    if not data_file.is_file():
        raise InputError(
            f"checkpoint '{path}' has no data position for rank {rank}; resume with the number of processes it was saved with "
            f"({trainer_state.get('world_size', '?')})"
        )
    with open(data_file, "rb") as fh:
        stream_state = pickle.load(fh)  # written by this code into the run's own directory
    for name, module in aux_modules.items():
        load_model(module, str(path / TRAINING_STATE / f"aux_{name}.safetensors"), device=str(next(module.parameters()).device))
    return trainer_state, stream_state
