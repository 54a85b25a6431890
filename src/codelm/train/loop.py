"""The training loop: one loop for every family and objective, distributed only through accelerate.

    producer thread ──StepBatch (micro-batches + stream state after them)──► step():
        for each micro-batch: loss_sum = objective.loss(model, batch)
                              backward(loss_sum × world / targets of the whole step)
        clip → AdamW → schedule
    every N steps: log, validate, checkpoint (atomic), stop on signal / time / early stopping

The loss of a step is Σ loss_sum / Σ targets over every micro-batch of every
rank, so neither gradient accumulation nor the number of processes changes it.
(Averaging each micro-batch's own mean, as trainers long did, gives the
targets of short, padded micro-batches more weight than those of long ones.)
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from codelm.config import load_yaml
from codelm.errors import ConfigError
from codelm.objectives.base import reduce_metrics
from codelm.runs import RunDir, generate_name
from codelm.train import checkpoint as ckpt
from codelm.train.config import RESUME_FIXED_KEYS, TrainConfig
from codelm.train.data import (
    BatchProducer,
    CorpusSource,
    StepBatch,
    StepBatcher,
    to_device,
    validation_batches,
)
from codelm.train.memory import available_memory, check_fits, estimate_memory
from codelm.train.model import ModelView, load_tokenizer, plan_model
from codelm.train.schedules import build_scheduler
from codelm.train.throughput import (
    Meter,
    batch_flops,
    flops_per_token,
    measure_peak_flops,
    model_shape,
    synchronize,
)
from codelm.train.tracking import Trackers, plot_losses, summary_markdown

MIXED_PRECISION = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
VALIDATION_SEED_SALT = 0x7A11D  # validation streams never share RNG draws with training streams


@dataclass
class TrainResult:
    """What a run ended with; also written to `<run>/result.json`."""

    run_dir: str
    step: int
    stop_reason: str  # max_steps | max_minutes | early_stopping | signal
    train_loss: float | None
    val_loss: float | None
    initial_val_loss: float | None
    validation: dict[str, dict[str, float]]
    best_step: int | None
    best_val_loss: float | None
    best_checkpoint: str | None
    last_checkpoint: str | None
    tokens: int
    tokens_per_s: float
    flops_per_s: float
    mfu: float
    peak_flops: float
    world_size: int
    train_seconds: float
    data_wait_fraction: float
    resumed_from: int | None = None
    signal: int | None = None
    plot: str | None = None
    memory_gib: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _StopFlag:
    """SIGTERM/SIGINT set a flag the loop checks after each step; a second SIGINT interrupts at once."""

    def __init__(self, enabled: bool) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self.enabled = enabled

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> _StopFlag:
        if self.enabled:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    self._previous[sig] = signal.signal(sig, self._handle)
                except ValueError:  # not the main thread: leave signals alone
                    break
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _select(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _check_resume_config(run: RunDir, cfg: TrainConfig) -> None:
    saved_path = run.path / "config.yaml"
    if not saved_path.is_file():
        return
    saved = load_yaml(saved_path)
    current = cfg.model_dump(mode="json")
    for key in RESUME_FIXED_KEYS:
        if _select(saved, key) != _select(current, key):
            raise ConfigError(
                f"--resume: '{key}' differs from the run's saved config ({saved_path}); "
                "a resumed run must keep it (start a new run with another out to change it)"
            )


def _adamw(params: list[tuple[str, torch.nn.Parameter]], cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    # No weight decay on 1-D tensors (biases, norm gains), as in GPT-2/nanoGPT.
    decay = [p for _, p in params if p.requires_grad and p.dim() >= 2]
    no_decay = [p for _, p in params if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    impl = cfg.optim.implementation
    kwargs: dict[str, Any] = {}
    if impl == "auto":
        impl = "fused" if device.type in ("cuda", "cpu") else "foreach"
    if impl == "fused":
        kwargs["fused"] = True
    elif impl == "foreach":
        kwargs["foreach"] = True
    else:
        kwargs["foreach"] = False
    return torch.optim.AdamW(groups, lr=cfg.optim.lr, betas=cfg.optim.betas, eps=cfg.optim.eps, **kwargs)


def _make_accelerator(cfg: TrainConfig) -> Any:
    from accelerate import Accelerator

    if cfg.loop.precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("loop.precision=fp16 needs a CUDA GPU (its loss scaler is GPU-only); use bf16 on CPU")
    # Without CUDA, accelerate needs cpu=True to join a torchrun group (gloo);
    # otherwise every process would silently train alone.
    return Accelerator(
        mixed_precision=MIXED_PRECISION[cfg.loop.precision],
        step_scheduler_with_optimizer=False,
        cpu=not torch.cuda.is_available(),
    )


def _run_dir(accelerator: Any, cfg: TrainConfig, out: str | Path | None, resume: bool) -> RunDir:
    from accelerate.utils import broadcast_object_list

    path = out or cfg.out
    if path is None:
        if resume:
            raise ConfigError("--resume needs the run directory: pass --out DIR or set 'out' in the config")
        path = str(Path("runs") / generate_name("train"))
    holder = [str(path)]
    if accelerator.num_processes > 1:  # generated names differ per process: rank 0's wins
        broadcast_object_list(holder)
    return RunDir(Path(holder[0])) if not accelerator.is_main_process else RunDir.at(holder[0])


def accumulate_gradients(
    accelerator: Any,
    model: torch.nn.Module,
    view: Any,
    objective: Any,
    micro_batches: list[dict[str, torch.Tensor]],
    expected_targets: int,
    params: list[torch.nn.Parameter],
    aux_params: list[torch.nn.Parameter] = (),  # type: ignore[assignment]
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Forward/backward over one step's micro-batches, leaving ∇(Σ loss / Σ targets) in `.grad`.

    `expected_targets` is this rank's target count, counted from the labels
    before any forward pass; summed over ranks it divides every micro-batch's
    summed loss, so accumulation and data parallelism give exactly the gradient
    of one big batch's mean loss. Returns (loss sum, target count, metric sums)
    over all micro-batches and ranks.
    """
    device = accelerator.device
    world = accelerator.num_processes
    expected = torch.tensor(float(expected_targets), device=device)
    if world > 1:
        expected = accelerator.reduce(expected, "sum")
    expected = expected.clamp(min=1.0)
    scale = world / expected  # DDP averages gradients over ranks; undo that
    loss_sum = torch.zeros((), device=device)
    targets = torch.zeros((), device=device)
    metrics: dict[str, torch.Tensor] = {}
    last = len(micro_batches) - 1
    for i, micro in enumerate(micro_batches):
        micro = to_device(micro, device)
        # Gradients are all-reduced once, after the last micro-batch.
        sync = contextlib.nullcontext() if i == last else accelerator.no_sync(model)
        with sync:
            out = objective.loss(view, micro)
            accelerator.backward(out.loss_sum * scale)
        loss_sum += out.loss_sum.detach().float()
        targets += out.num_targets.detach().float()
        for key, value in out.metrics.items():  # `m/sum` and `m/count` pairs
            metrics[key] = metrics.get(key, 0.0) + value.detach().float()
    if world > 1:
        keys = sorted(metrics)
        totals = accelerator.reduce(torch.stack([loss_sum, targets, *(metrics[k] for k in keys)]), "sum")
        loss_sum, targets = totals[0], totals[1]
        metrics = dict(zip(keys, totals[2:], strict=True))
        for p in aux_params:  # not DDP-wrapped: average their gradients here
            if p.grad is not None:
                p.grad.copy_(accelerator.reduce(p.grad, "mean"))
    # If the objective's real target count differs from the labels counted in
    # advance (e.g. a discriminator scoring every token), rescale to the real
    # count. In the usual case the factor is exactly 1.0: a bitwise no-op.
    factor = expected / targets.clamp(min=1.0)
    grads = [p.grad for p in params if p.grad is not None]
    # On CPU reading the factor is free, so skip the pass over the gradients when
    # it is 1; on GPU that read would be a sync, and multiplying is cheaper.
    if grads and (device.type != "cpu" or float(factor) != 1.0):
        torch._foreach_mul_(grads, factor)
    return loss_sum, targets, metrics


class _Trainer:
    """State of one run; `train()` is the public entry point."""

    def __init__(self, cfg: TrainConfig, resume: bool, out: str | Path | None, info: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.info = info
        self.accelerator = acc = _make_accelerator(cfg)
        self.main = acc.is_main_process
        self.world = acc.num_processes
        self.rank = acc.process_index
        self.device = acc.device
        if cfg.loop.num_threads:
            torch.set_num_threads(cfg.loop.num_threads)
        import transformers

        transformers.utils.logging.disable_progress_bar()  # ours is the only bar
        self.run = _run_dir(acc, cfg, out, resume)
        self.ckpt_root = self.run.path / "checkpoints"
        self._setup(resume)

    # ----------------------------------------------------------------- set-up
    def _setup(self, resume: bool) -> None:
        cfg, acc = self.cfg, self.accelerator
        from codelm.objectives import MixtureStream, build_objectives

        existing = ckpt.latest_checkpoint(self.ckpt_root)
        if existing is not None and not resume:
            raise ConfigError(
                f"run directory '{self.run.path}' already has checkpoints; pass --resume to continue it or choose another out"
            )
        if resume:
            _check_resume_config(self.run, cfg)
        self.resume_from = existing if resume else None
        if self.main:
            ckpt.remove_stale(self.ckpt_root)
        acc.wait_for_everyone()

        # Tokenizer, model shape, objectives: everything that can fail on config, before any weights.
        self.tokenizer = load_tokenizer(cfg.tokenizer or cfg.model.path)
        # The corpus: checked before any weights exist.
        shard = cfg.data.rank_split == "shard" and self.world > 1
        source = CorpusSource(
            cfg.data.corpus,
            cfg.data.train_split,
            shuffle=cfg.data.shuffle,
            seed=cfg.seed,
            rank=self.rank if shard else 0,
            world=self.world if shard else 1,
        )
        val_source = (
            CorpusSource(cfg.data.corpus, cfg.data.validation_split) if cfg.data.validation_split is not None else None
        )
        plan = plan_model(cfg.model, self.tokenizer)
        self.family = plan.family
        seq_len = cfg.data.seq_len
        self.objectives, weights = build_objectives(cfg.objectives, self.tokenizer, self.family, seq_len)
        names = [o.name for o in self.objectives]
        self.by_name = {o.name: o for o in self.objectives}
        self.shape = model_shape(plan.meta(), self.family)
        self.flops_per_token = flops_per_token(self.shape, seq_len)
        self._check_memory()

        # Weights: a resumed run reads its own checkpoint; otherwise model.path or a fresh init.
        model = plan.build(cfg.seed, checkpoint=str(self.resume_from.path) if self.resume_from else None)
        if cfg.loop.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False
        model.to(self.device).train()
        self.aux = {}
        for objective in self.objectives:  # e.g. RTD's generator, sized from the model
            for name, module in objective.auxiliary_modules(model).items():
                self.aux[f"{objective.name}.{name}"] = module.to(self.device).train()
        params = list(model.named_parameters())
        for name, module in self.aux.items():
            params += [(f"{name}.{n}", p) for n, p in module.named_parameters()]
        optimizer = _adamw(params, cfg, self.device)
        from accelerate.utils import DistributedType

        if acc.distributed_type == DistributedType.DEEPSPEED and cfg.loop.grad_accum > 1:
            raise ConfigError(
                "loop.grad_accum > 1 is not supported under DeepSpeed (it steps inside backward); "
                "use loop.grad_accum=1 with a larger loop.micro_batch_size or more processes"
            )
        self.model, self.optimizer = acc.prepare(model, optimizer)
        if cfg.loop.compile:
            self.model = torch.compile(self.model, backend=cfg.loop.compile_backend)
        self.inner = acc.unwrap_model(self.model, keep_torch_compile=False)
        self.view = ModelView(self.model, self.inner)
        self.params = [p for _, p in params if p.requires_grad]
        self.aux_params = [p for m in self.aux.values() for p in m.parameters() if p.requires_grad]
        self.scheduler = build_scheduler(optimizer, cfg.loop.max_steps, cfg.schedule)
        acc.register_for_checkpointing(self.scheduler)
        ckpt.install_accelerate_hooks(acc)

        # Data: training mix (background thread) and fixed validation batches.
        self.mix = MixtureStream(self.objectives, weights, source, cfg.seed, cfg.data.shuffle_buffer)
        self.val_sets: dict[str, list[dict[str, torch.Tensor]]] = {}
        if val_source is not None:
            self.val_sets = validation_batches(
                self.objectives,
                val_source,
                batches=cfg.eval.batches,
                batch_size=cfg.eval.batch_size or cfg.loop.micro_batch_size,
                seed=cfg.seed ^ VALIDATION_SEED_SALT,
                shuffle_buffer=cfg.data.shuffle_buffer,
            )

        # Counters (restored on resume).
        self.step = 0
        self.best_step: int | None = None
        self.best_val: float | None = None
        self.evals_since_best = 0
        self.initial_val: float | None = None
        self.prev_train_seconds = 0.0
        self.prev_elapsed = 0.0  # wall time of earlier sessions of this run (eval and saving included)
        self.prev_tokens = 0
        self.prev_flops = 0.0
        self.last_saved: int | None = None
        self.last_eval: dict[str, Any] | None = None
        if self.resume_from is not None:
            state, stream_state = ckpt.load_training_state(acc, self.resume_from.path, self.aux)
            self.mix.load_state_dict(stream_state)
            self.step = int(state["step"])
            self.best_step, self.best_val = state.get("best_step"), state.get("best_val_loss")
            self.evals_since_best = int(state.get("evals_since_best", 0))
            self.initial_val = state.get("initial_val_loss")
            self.prev_train_seconds = float(state.get("train_seconds", 0.0))
            self.prev_elapsed = float(state.get("elapsed_seconds", 0.0))
            self.prev_tokens = int(state.get("tokens", 0))
            self.prev_flops = float(state.get("flops", 0.0))
            self.last_saved = self.step

        # Peak FLOP/s: given, or measured now on every rank and summed (all ranks count).
        dtype = DTYPES[cfg.loop.precision]
        per_rank = cfg.perf.peak_flops or measure_peak_flops(self.device, dtype, cfg.perf.probe_seconds)
        self.peak = float(self._reduce_sum(torch.tensor([per_rank], dtype=torch.float64))[0])

        if self.main:
            self.run.save_config(cfg)
            self.trackers = Trackers(
                self.run, cfg.logging.tensorboard, cfg.logging.mlflow, cfg.model_dump(mode="json"), cfg.logging.mlflow_uri
            )
        else:
            self.trackers = None
        if self.resume_from is not None:
            self._log("resume", from_step=self.step, checkpoint=str(self.resume_from.path))
            self.info(f"resuming {self.run.path} from step {self.step}")
        if self.main:
            self.info(
                f"training {self.family} ({self.shape.n_params:,} parameters) on {', '.join(names)} "
                f"with {self.world} process(es) → {self.run.path}"
            )
        else:
            from codelm import progress

            progress.set_enabled(False)  # one progress bar per run, on rank 0
        self._log(
            "start",
            family=self.family,
            objectives=names,
            parameters=self.shape.n_params,
            matmul_parameters=self.shape.n_matmul,
            flops_per_token=self.flops_per_token,
            world_size=self.world,
            distributed_type=str(acc.distributed_type.value),
            device=str(self.device),
            precision=cfg.loop.precision,
            peak_flops=self.peak,
            global_batch=cfg.loop.micro_batch_size * cfg.loop.grad_accum * self.world,
            memory_gib=self.memory_gib,
            start_step=self.step,
        )

    def _check_memory(self) -> None:
        cfg = self.cfg
        estimate = estimate_memory(
            self.shape,
            micro_batch_size=cfg.loop.micro_batch_size,
            seq_len=cfg.data.seq_len,
            precision=cfg.loop.precision,
            gradient_checkpointing=cfg.loop.gradient_checkpointing,
        )
        self.memory_gib = estimate.as_gib()
        if not cfg.memory.check:
            return
        if cfg.memory.limit_gib is not None:
            budget = cfg.memory.limit_gib * 1024**3
        else:
            budget = available_memory(self.device)
            if self.device.type == "cpu":  # processes on one machine share its RAM
                budget /= int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        check_fits(estimate, budget, self.device)

    def _time_up(self, wall_start: float) -> bool:
        limit = self.cfg.loop.max_minutes
        return limit is not None and (self.prev_elapsed + time.monotonic() - wall_start) / 60 >= limit

    # -------------------------------------------------------------- helpers
    def _log(self, event: str, **fields: Any) -> None:
        if self.main:
            self.run.log(event, **fields)

    def _reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world == 1:
            return tensor
        return self.accelerator.reduce(tensor.to(self.device), "sum").cpu()

    # ------------------------------------------------------------- training
    def train_step(self, batch: StepBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One optimizer step; returns (loss_sum, targets, grad_norm, metric sums) over ranks, as tensors."""
        loss_sum, targets, metrics = accumulate_gradients(
            self.accelerator,
            self.model,
            self.view,
            self.by_name[batch.objective],
            batch.micro_batches,
            batch.targets,
            self.params,
            self.aux_params,
        )
        max_norm = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip is not None else math.inf
        grad_norm = self.accelerator.clip_grad_norm_(self.params, max_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_sum, targets, torch.as_tensor(grad_norm).detach().float(), metrics

    def evaluate(self) -> dict[str, Any]:
        """Validation loss and perplexity per objective on the fixed validation batches."""
        from accelerate.utils import DistributedType

        acc = self.accelerator
        sharded = acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
        # Unsharded models are evaluated unwrapped (no collectives inside forward),
        # each rank taking every world-th batch; sharded ones need their wrapper,
        # so every rank runs every batch.
        view = self.view if sharded else ModelView(self.inner, self.inner)
        self.inner.eval()
        for module in self.aux.values():
            module.eval()
        results: dict[str, dict[str, float]] = {}
        with torch.no_grad(), acc.autocast():
            for name, batches in self.val_sets.items():
                objective = self.by_name[name]
                sums = torch.zeros(2, dtype=torch.float64)
                metric_sums: dict[str, torch.Tensor] = {}
                for i, batch in enumerate(batches):
                    if not sharded and i % self.world != self.rank:
                        continue
                    out = objective.loss(view, to_device(batch, self.device))
                    sums += torch.stack([out.loss_sum.double().cpu(), out.num_targets.double().cpu()])
                    for key, value in out.metrics.items():
                        metric_sums[key] = metric_sums.get(key, 0.0) + value.double().cpu()
                keys = sorted(metric_sums)
                if not sharded:
                    # Every rank computes the same metric keys (the objective decides them).
                    packed = self._reduce_sum(torch.cat([sums, torch.stack([metric_sums[k] for k in keys])]) if keys else sums)
                    sums, metric_sums = packed[:2], dict(zip(keys, packed[2:], strict=True))
                loss = float(sums[0] / max(sums[1], 1.0))
                results[name] = {"loss": loss, "ppl": math.exp(min(loss, 50.0)), "targets": int(sums[1])}
                if metric_sums:
                    results[name]["metrics"] = reduce_metrics([metric_sums])
        self.inner.train()
        for module in self.aux.values():
            module.train()
        val_loss = sum(r["loss"] for r in results.values()) / max(1, len(results))
        return {"objectives": results, "val_loss": val_loss}

    def _trainer_state(self, meter: Meter) -> dict[str, Any]:
        return {
            "best_step": self.best_step,
            "best_val_loss": self.best_val,
            "evals_since_best": self.evals_since_best,
            "initial_val_loss": self.initial_val,
            "train_seconds": self.prev_train_seconds + meter.total_seconds + meter.seconds,
            "elapsed_seconds": self.prev_elapsed + time.monotonic() - self.wall_start,
            "tokens": self.prev_tokens + self.tokens_global,
            "flops": self.prev_flops + self.flops_global,
            "world_size": self.world,
        }

    def save(self, meter: Meter, stream_state: dict[str, Any]) -> Path:
        path = ckpt.save_checkpoint(
            self.accelerator,
            self.model,
            self.tokenizer,
            self.ckpt_root,
            self.step,
            self._trainer_state(meter),
            stream_state,
            self.aux,
        )
        self.last_saved = self.step
        if self.main:
            ckpt.point_symlink(self.run.path / "last", path)
            protected = {self.best_step} if self.best_step is not None else set()
            ckpt.prune(self.ckpt_root, self.cfg.checkpoint.keep_last, protected)
        self.accelerator.wait_for_everyone()
        self._log("checkpoint", step=self.step, path=str(path))
        return path

    def _do_eval(self, meter: Meter, stream_state: dict[str, Any]) -> bool:
        """Validate at the current step; returns True when early stopping says stop."""
        result = self.evaluate()
        self.last_eval = {"step": self.step, **result}
        val = result["val_loss"]
        if self.step == 0:
            self.initial_val = val
        improved = False
        if self.step > 0:
            if self.best_val is None or val < self.best_val - self.cfg.eval.min_delta:
                self.best_val, self.best_step, self.evals_since_best = val, self.step, 0
                improved = True
            else:
                self.evals_since_best += 1
        self._log("eval", step=self.step, **result, best=improved)
        if self.trackers is not None:
            scalars = {f"val/{n}/loss": r["loss"] for n, r in result["objectives"].items()}
            scalars.update({f"val/{n}/ppl": r["ppl"] for n, r in result["objectives"].items()})
            scalars["val/loss"] = val
            self.trackers.scalars(self.step, scalars)
        if improved and self.cfg.checkpoint.save_best:
            path = self.save(meter, stream_state)
            if self.main:
                ckpt.point_symlink(self.run.path / "best", path)
        patience = self.cfg.eval.early_stopping_patience
        return patience is not None and self.evals_since_best >= patience

    # ------------------------------------------------------------------ run
    def fit(self) -> TrainResult:
        from codelm.progress import progress_bar

        cfg, acc = self.cfg, self.accelerator
        max_steps = cfg.loop.max_steps
        batcher = StepBatcher(
            self.mix,
            micro_batch_size=cfg.loop.micro_batch_size,
            grad_accum=cfg.loop.grad_accum,
            family=self.family,
            rank=self.rank,
            world=self.world,
            slice_global=cfg.data.rank_split == "slice",
            flops_fn=lambda b: batch_flops(self.shape, b),
        )
        meter = Meter()
        self.tokens_global = 0
        self.flops_global = 0.0
        stream_state = self.mix.state_dict()
        pending: list[tuple[Any, ...]] = []  # step records whose tensors are read at the next flush
        window_tokens = 0
        window_flops = 0.0
        stop_reason = "max_steps"
        stop_signal: int | None = None
        last_loss: float | None = None
        wall_start = self.wall_start = time.monotonic()
        has_val = bool(self.val_sets)
        if has_val and cfg.eval.at_start and self.step == 0:
            self._do_eval(meter, stream_state)
        producer = BatchProducer(batcher, self.step, cfg.data.prefetch) if self.step < max_steps else None

        def flush(bar: Any) -> tuple[bool, bool]:
            """Write buffered step records; returns (signal seen, time up) agreed by all ranks."""
            nonlocal window_tokens, window_flops, last_loss
            t_sync = time.perf_counter()
            synchronize(self.device)  # GPU work queued by the window's steps counts as their time
            meter.seconds += time.perf_counter() - t_sync
            totals = self._reduce_sum(torch.tensor([window_tokens, window_flops], dtype=torch.float64))
            tokens, flops = int(totals[0]), float(totals[1])
            meter.add(tokens, flops, 0.0)
            self.tokens_global += tokens
            self.flops_global += flops
            window_tokens, window_flops = 0, 0.0
            cumulative = self.prev_tokens + self.tokens_global
            for step, objective, ls, nt, gn, lr, metric_sums in pending:
                n = float(nt)
                loss = float(ls) / max(n, 1.0)
                last_loss = loss
                extra = {"metrics": reduce_metrics([metric_sums])} if metric_sums else {}
                self._log("step", step=step, objective=objective, loss=loss, targets=int(n), lr=lr, grad_norm=float(gn), **extra)
            if pending:
                rates = meter.window(self.peak)
                wait = producer.wait_seconds if producer is not None else 0.0
                step = pending[-1][0]
                self._log("perf", step=step, tokens=cumulative, **rates, data_wait=wait)
                if self.trackers is not None:
                    scalars = {"train/loss": last_loss, "train/lr": pending[-1][5]}
                    scalars.update({f"train/{pending[-1][1]}/loss": last_loss})
                    scalars.update({f"perf/{k}": v for k, v in rates.items()})
                    self.trackers.scalars(step, scalars)
                bar.update(
                    completed=step,
                    info=f"loss {last_loss:.3f} · {rates['tokens_per_s']:,.0f} tok/s · MFU {100 * rates['mfu']:.1f}%",
                )
            pending.clear()
            flags = torch.tensor([float(stop_flag.signum is not None), float(self._time_up(wall_start))], dtype=torch.float64)
            flags = self._reduce_sum(flags)
            return bool(flags[0] > 0), bool(flags[1] > 0)

        with _StopFlag(cfg.checkpoint.on_signal) as stop_flag, progress_bar("train", total=max_steps) as bar:
            bar.update(completed=self.step)
            try:
                while self.step < max_steps:
                    assert producer is not None
                    t0 = time.perf_counter()
                    batch = producer.get()
                    lr = float(self.scheduler.get_last_lr()[0])  # the rate this step uses
                    loss_sum, targets, grad_norm, metrics = self.train_step(batch)
                    self.step += 1
                    meter.seconds += time.perf_counter() - t0
                    stream_state = batch.state  # the position *consumed*, not the prefetched one
                    window_tokens += batch.tokens
                    window_flops += batch.flops
                    pending.append((self.step, batch.objective, loss_sum, targets, grad_norm, lr, metrics))
                    due_log = self.step % cfg.logging.every == 0 or self.step == max_steps
                    due_eval = has_val and cfg.eval.every > 0 and self.step % cfg.eval.every == 0
                    due_ckpt = cfg.checkpoint.every > 0 and self.step % cfg.checkpoint.every == 0
                    if due_log or due_eval or due_ckpt:
                        # Step records reach log.jsonl before any checkpoint that covers
                        # them, so a resumed run's history has no holes.
                        seen_signal, time_up = flush(bar)  # agreed by all ranks
                    elif self.world == 1:  # alone, stop checks cost nothing: do them every step
                        seen_signal, time_up = stop_flag.signum is not None, self._time_up(wall_start)
                    else:
                        seen_signal = time_up = False
                    if due_eval and self._do_eval(meter, stream_state):
                        stop_reason = "early_stopping"
                        break
                    if due_ckpt and self.last_saved != self.step:
                        self.save(meter, stream_state)
                    if seen_signal:
                        stop_reason, stop_signal = "signal", stop_flag.signum or int(signal.SIGTERM)
                        break
                    if time_up:
                        stop_reason = "max_minutes"
                        break
            finally:
                if producer is not None:
                    producer.close()
            flush(bar)

        # The end: validate (unless just done), save (unless just saved), report.
        if has_val and (self.last_eval is None or self.last_eval["step"] != self.step):
            self._do_eval(meter, stream_state)
        last_path = self.ckpt_root / ckpt.step_dir_name(self.step)
        if self.last_saved != self.step:
            last_path = self.save(meter, stream_state)
        totals = meter.totals(self.peak)
        train_seconds = self.prev_train_seconds + totals["train_seconds"]
        wait = producer.wait_seconds if producer is not None else 0.0
        val = self.last_eval
        best_ckpt = None
        if self.best_step is not None and (self.ckpt_root / ckpt.step_dir_name(self.best_step)).is_dir():
            best_ckpt = str(self.ckpt_root / ckpt.step_dir_name(self.best_step))
        result = TrainResult(
            run_dir=str(self.run.path),
            step=self.step,
            stop_reason=stop_reason,
            train_loss=last_loss,
            val_loss=val["val_loss"] if val else None,
            initial_val_loss=self.initial_val,
            validation={k: {"loss": v["loss"], "ppl": v["ppl"]} for k, v in (val or {}).get("objectives", {}).items()},
            best_step=self.best_step,
            best_val_loss=self.best_val,
            best_checkpoint=best_ckpt,
            last_checkpoint=str(last_path),
            tokens=self.prev_tokens + self.tokens_global,
            tokens_per_s=totals["tokens_per_s"],
            flops_per_s=totals["flops_per_s"],
            mfu=totals["mfu"],
            peak_flops=self.peak,
            world_size=self.world,
            train_seconds=train_seconds,
            data_wait_fraction=wait / max(totals["train_seconds"], 1e-9),
            resumed_from=self.resume_from.step if self.resume_from else None,
            signal=stop_signal,
            memory_gib=self.memory_gib,
        )
        if self.main:
            self._log("end", **{k: v for k, v in result.to_dict().items() if k != "validation"})
            title = f"{self.family} · {', '.join(self.by_name)} · {self.shape.n_params / 1e6:.2f}M params"
            if cfg.logging.plots:
                plot = plot_losses(self.run, title)
                result.plot = str(plot) if plot else None
            self.run.write_json("result.json", result.to_dict())
            lines = [
                f"model: {self.family}, {self.shape.n_params:,} parameters ({self.shape.n_matmul:,} in matmuls)",
                f"objectives: {', '.join(self.by_name)}",
                f"batch: {cfg.loop.micro_batch_size} × {cfg.loop.grad_accum} accumulation × {self.world} process(es) "
                f"× {cfg.data.seq_len} tokens, {cfg.loop.precision}",
                f"optimizer: AdamW lr {cfg.optim.lr}, {cfg.schedule.kind} schedule, warmup {cfg.schedule.warmup_steps}",
            ]
            self.run.write_summary(summary_markdown(result.to_dict(), lines))
            if self.trackers is not None:
                for name in ("summary.md", "loss.png", "result.json"):
                    self.trackers.artifact(self.run.path / name)
                self.trackers.close()
        acc.wait_for_everyone()
        return result


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    out: str | Path | None = None,
    info: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train `config`; with `resume`, continue the run in `out` (or `config.out`) from its newest checkpoint.

    Launch under `accelerate launch` for several processes; every process calls
    this function. Returns the same `TrainResult` on every process.
    """
    threads = torch.get_num_threads()
    try:
        trainer = _Trainer(config, resume, out, info or (lambda message: None))
        return trainer.fit()
    finally:
        torch.set_num_threads(threads)  # loop.num_threads is this run's, not the caller's
