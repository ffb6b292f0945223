"""Train chapter 04's GPT on the course corpus: one process, or many under ``torchrun`` (DDP or FSDP).

The recipe is chapter 04's (:mod:`bigmodel_lib.lm_training`): random windows of Python's documentation
(:mod:`bigmodel_lib.data.text_corpus`, character level), AdamW with weight decay on matrices only
(:meth:`GPT.configure_optimizer <bigmodel_lib.nn_torch.gpt.GPT.configure_optimizer>`), linear warm-up then
cosine decay (:func:`~bigmodel_lib.lm_training.warmup_cosine_lr`), gradient clipping at norm 1, bfloat16
autocast when asked for, and checkpoints read back with ``weights_only=True``.

**One global batch, whatever the number of processes.** Every step, every rank draws the *same* global
batch of ``--batch-size`` windows from one generator seeded with ``--seed``, then keeps its own slice of
rows (rank ``r`` of ``N`` keeps rows ``r B/N .. (r+1) B/N - 1``) and cuts it into ``--grad-accum``
micro-batches. Each micro-batch's mean loss is scaled by ``1/M``; DDP (or FSDP) averages the gradients
over the ``N`` ranks, so every rank ends the step with the gradient of the mean loss over the whole
global batch: one process and ``N`` processes take the same steps (tested to ~1e-9 in float64).

Commands (from the repository root, after ``make install``)::

    # one process: the CPU, or the GPU when there is one (bfloat16 autocast on a GPU)
    python -m bigmodel_lib.train --out runs/one                     # 04.5's model and recipe, 700 steps
    python -m bigmodel_lib.train --dtype bfloat16 --out runs/gpu     # one GPU

    # one machine, several processes: 2 on a CPU (gloo), or one per GPU (NCCL), e.g. 8 GPUs
    torchrun --standalone --nproc-per-node 2 -m bigmodel_lib.train --out runs/ddp
    torchrun --standalone --nproc-per-node 8 -m bigmodel_lib.train --batch-size 256 --dtype bfloat16 --out runs/ddp8
    # the same with --fsdp: weights, gradients and optimizer state sharded over the processes (FSDP2)

    # several machines: the same command on each of the 2 nodes (HOST = node 0's address, reachable from both)
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 --rdzv-id gpt-run-1 \\
        -m bigmodel_lib.train --batch-size 256 --dtype bfloat16 --out runs/multi

    # checkpoints every 100 steps; after an interruption, the same command with --resume continues
    python -m bigmodel_lib.train --save-every 100 --out runs/one
    python -m bigmodel_lib.train --save-every 100 --out runs/one --resume

On several nodes ``--out`` must be a directory every node can read (rank 0 writes, every rank reads it on
``--resume``). ``--dtype bfloat16`` keeps float32 weights and runs the forward under bfloat16 autocast
(the matmuls on a GPU's tensor cores); ``float32``/``float64`` run in that dtype throughout.

Outputs in ``--out``: ``metrics.jsonl`` (one JSON object per logged step), ``final.pt`` (the final
weights in :mod:`bigmodel_lib.checkpoint`'s format: ``torch.load(path, weights_only=True)``;
``load_checkpoint(path, GPT(GPTConfig(**ckpt["config"])))``), ``checkpoint.pt`` (weights, optimizer
state, step and data position, for ``--resume``) and ``summary.json`` (final loss, throughput, and the
bytes of parameters, gradients and optimizer state each rank held).

From Python: ``train(TrainRunConfig(steps=20, out="runs/x"))`` or ``train(["--steps", "20", ...])``
returns a :class:`TrainResult`; it uses the process group when one is initialised (or when launched
by torchrun), and runs as one process otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from bigmodel_lib.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
from bigmodel_lib.lm_training import estimate_loss, get_batch, warmup_cosine_lr
from bigmodel_lib.progress import progress

__all__ = ["DTYPES", "TrainResult", "TrainRunConfig", "main", "parse_args", "train", "validate"]

#: ``--dtype`` names: the dtype of the weights, and the autocast dtype of the forward (None: no autocast)
DTYPES: dict[str, tuple[torch.dtype, torch.dtype | None]] = {
    "float32": (torch.float32, None),
    "float64": (torch.float64, None),
    "bfloat16": (torch.float32, torch.bfloat16),
}
CHECKPOINT_NAME, FINAL_NAME, METRICS_NAME, SUMMARY_NAME = "checkpoint.pt", "final.pt", "metrics.jsonl", "summary.json"


@dataclass
class TrainRunConfig:
    """Every option of ``python -m bigmodel_lib.train`` (the field ``x_y`` is the flag ``--x-y``).

    The defaults are notebook 04.5's model and recipe: 3 layers, 4 heads, width 96, windows of 64 characters,
    32 windows per step, 700 steps, learning rate 3e-3 warming up over 5 % of the steps, then down to 3e-4.
    """

    steps: int = 700
    batch_size: int = 32
    block_size: int = 64
    n_layer: int = 3
    n_head: int = 4
    d_model: int = 96
    seed: int = 0
    dtype: str = "float32"
    out: str = "runs/train"
    grad_accum: int = 1
    fsdp: bool = False
    zero1: bool = False
    resume: bool = False
    max_lr: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = -1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    log_every: int = 1
    eval_batches: int = 4
    save_every: int = 0
    stop_at: int = 0
    device: str = "auto"
    threads: int = 0
    progress: bool = True


@dataclass
class TrainResult:
    """What a run returns (rank 0's view; every rank returns the same numbers)."""

    out: Path
    world_size: int
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    val_loss: float = float("nan")
    tokens_per_second: float = float("nan")
    summary: dict[str, Any] = field(default_factory=dict)


def _parser() -> argparse.ArgumentParser:
    defaults = TrainRunConfig()
    parser = argparse.ArgumentParser(
        prog="python -m bigmodel_lib.train",
        description="Train the course's GPT on Python's documentation: one process, or under torchrun (DDP/FSDP).")
    helps = {
        "steps": "total optimizer steps (the schedule's length)",
        "batch_size": "global batch: windows per step over all processes and micro-batches",
        "block_size": "tokens per window (the context)", "n_layer": "layers", "n_head": "heads per layer",
        "d_model": "width", "seed": "seed of the weights and of the batches",
        "dtype": "float32 / float64 weights, or bfloat16 autocast with float32 weights",
        "out": "output directory", "grad_accum": "micro-batches per step on each process",
        "fsdp": "shard parameters, gradients and optimizer state with PyTorch FSDP (fully_shard)",
        "zero1": "DDP with the optimizer state sharded (ZeRO stage 1: torch's ZeroRedundancyOptimizer)",
        "resume": "continue from OUT/checkpoint.pt", "max_lr": "peak learning rate", "min_lr": "final learning rate",
        "warmup_steps": "linear warm-up steps (default -1: steps // 20)",
        "weight_decay": "AdamW weight decay on matrices",
        "grad_clip": "clip the gradient's global L2 norm to this (0: no clipping)",
        "log_every": "write metrics every this many steps", "eval_batches": "validation batches at the end",
        "save_every": "write OUT/checkpoint.pt every this many steps (0: at the end only)",
        "stop_at": "stop after this step (checkpoint written) to resume later; 0: run all steps",
        "device": "auto (a GPU if there is one), cpu or cuda", "threads": "CPU threads per process (0: torch's choice)",
        "progress": "show a progress bar on rank 0",
    }
    for f in fields(TrainRunConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool" or isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction if f.name == "progress" else "store_true",
                                default=f.default, help=helps[f.name])
        elif f.name == "dtype":
            parser.add_argument(flag, default=f.default, help=helps[f.name])  # checked by validate(): one message
        else:
            parser.add_argument(flag, type=type(getattr(defaults, f.name)), default=f.default, help=helps[f.name])
    return parser


def parse_args(argv: Sequence[str] | None = None) -> TrainRunConfig:
    """The command line as a :class:`TrainRunConfig` (not yet validated: see :func:`validate`)."""
    return TrainRunConfig(**vars(_parser().parse_args(argv)))


def _world_from_env() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)``: from an initialised process group, else torchrun's variables."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def validate(config: TrainRunConfig, world_size: int) -> None:
    """Raise ``ValueError`` / ``FileNotFoundError`` for a run that cannot work, before any process talks to
    another: every rank checks the same arguments against the same world size, so all stop together."""
    if config.dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {sorted(DTYPES)}, got {config.dtype!r}")
    for name in ("steps", "batch_size", "block_size", "n_layer", "n_head", "d_model", "grad_accum", "log_every",
                 "eval_batches"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be an int >= 1, got {value!r}")
    for name in ("save_every", "stop_at", "threads"):
        if getattr(config, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(config, name)!r}")
    if config.fsdp and config.zero1:
        raise ValueError("--fsdp and --zero1 exclude each other: FSDP already shards the optimizer state")
    if config.d_model % config.n_head:
        raise ValueError(f"--d-model ({config.d_model}) must be divisible by --n-head ({config.n_head})")
    shards = world_size * config.grad_accum
    if config.batch_size % shards:
        raise ValueError(
            f"--batch-size {config.batch_size} must be divisible by processes x --grad-accum = "
            f"{world_size} x {config.grad_accum} = {shards}, so that every micro-batch has the same size")
    if config.warmup_steps < -1:
        raise ValueError(f"--warmup-steps must be >= 0 (or -1: steps // 20), got {config.warmup_steps}")
    if config.warmup_steps > config.steps:
        raise ValueError(f"--warmup-steps ({config.warmup_steps}) must be <= --steps ({config.steps})")
    if not 0 <= config.min_lr <= config.max_lr:
        raise ValueError(f"need 0 <= --min-lr <= --max-lr, got {config.min_lr} and {config.max_lr}")
    if config.device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {config.device!r}")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is visible to PyTorch")
    if config.resume and not (Path(config.out) / CHECKPOINT_NAME).exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {Path(config.out) / CHECKPOINT_NAME}")


def _micro_batches(x: torch.Tensor, rank: int, world_size: int, grad_accum: int) -> list[torch.Tensor]:
    """This rank's rows of the global batch ``x (B, T)``, cut into ``grad_accum`` micro-batches ``(B/(N M), T)``."""
    per_rank = x.shape[0] // world_size
    mine = x[rank * per_rank:(rank + 1) * per_rank]  # (B/N, T)
    return list(mine.chunk(grad_accum))  # M x (B/(N M), T)


def _local_bytes(tensor: torch.Tensor) -> int:
    """Bytes this process holds for ``tensor``: its own shard when it is a DTensor (FSDP2)."""
    local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
    return local.numel() * local.element_size()


def memory_held(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """Bytes of parameters, gradients and optimizer state (Adam's ``m``, ``v``) held by this process."""
    params = list(model.parameters())
    local_optimizer = getattr(optimizer, "optim", optimizer)  # ZeroRedundancyOptimizer: this rank's own AdamW
    state = [t for s in local_optimizer.state.values() for k, t in s.items() if torch.is_tensor(t) and k != "step"]
    return {
        "parameter_bytes": sum(_local_bytes(p) for p in params),
        "gradient_bytes": sum(_local_bytes(p.grad) for p in params if p.grad is not None),
        "optimizer_bytes": sum(_local_bytes(t) for t in state),
        "parameter_count": sum(p.numel() for p in params),  # the whole model's (global) count
    }


class _StateView:
    """An object with ``state_dict()`` and ``config``: lets :func:`save_checkpoint` write a state gathered
    from shards (FSDP) exactly as it writes a plain model's."""

    def __init__(self, state: dict[str, Any], config: Any = None) -> None:
        self._state, self.config = state, config

    def state_dict(self) -> dict[str, Any]:
        return self._state


def _load_corpus() -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(train ids, validation ids, vocabulary size)`` of the course corpus, character level."""
    from bigmodel_lib.data.text_corpus import CharTokenizer, load_python_docs, split_ids

    text = load_python_docs()
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = split_ids(tokenizer.encode(text))
    return torch.from_numpy(train_ids), torch.from_numpy(val_ids), tokenizer.vocab_size


def _pick_device(config: TrainRunConfig, local_rank: int) -> torch.device:
    if config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def train(config: TrainRunConfig | Sequence[str] | None = None) -> TrainResult:
    """Run one training as described in the module docstring; returns the losses and the summary.

    ``config``: a :class:`TrainRunConfig`, or command-line arguments (``["--steps", "20"]``).
    Bad arguments raise ``ValueError``/``FileNotFoundError`` before any collective call.
    """
    if config is None or not isinstance(config, TrainRunConfig):
        config = parse_args(list(config or []))
    rank, world_size, local_rank = _world_from_env()
    validate(config, world_size)

    from bigmodel_lib.contracts.gpt import GPTConfig
    from bigmodel_lib.nn_torch.gpt import GPT

    if config.threads:
        torch.set_num_threads(config.threads)
    device = _pick_device(config, local_rank)
    owns_group = False
    distributed = world_size > 1 or config.fsdp or config.zero1
    if distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if "MASTER_ADDR" in os.environ:  # launched by torchrun: it set RANK, WORLD_SIZE and the rendezvous
            dist.init_process_group(backend)
        else:  # FSDP in one plain process: a group of one, no network needed
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
        owns_group = True
    try:
        result = _run(config, GPT, GPTConfig, rank, world_size, device, distributed)
    except BaseException:
        # With several processes the others may be inside a collective, where tearing the group down can hang:
        # leave it to the process exit (torchrun then stops every rank). A group of one is safe to destroy.
        if owns_group and world_size == 1:
            dist.destroy_process_group()
        raise
    if owns_group:
        dist.barrier()  # every rank has finished writing before any rank tears the group down
        dist.destroy_process_group()
    return result


def _run(config: TrainRunConfig, gpt_class: Any, gpt_config_class: Any, rank: int, world_size: int,
         device: torch.device, distributed: bool) -> TrainResult:
    out = Path(config.out)
    is_main = rank == 0
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
    param_dtype, amp_dtype = DTYPES[config.dtype]
    train_data, val_data, vocab_size = _load_corpus()

    torch.manual_seed(config.seed)  # the same initial weights on every rank
    model_config = gpt_config_class(vocab_size=vocab_size, block_size=config.block_size, n_layer=config.n_layer,
                                    n_head=config.n_head, d_model=config.d_model)
    model = gpt_class(model_config, device=device, dtype=param_dtype)
    net: torch.nn.Module = model  # what the forward pass is called on
    mode = "single"
    if config.fsdp:
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:  # each block its own unit: gathered just before it runs, freed after
            fully_shard(block)
        fully_shard(model)
        mode = "fsdp"
    elif distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        mode = "zero1" if config.zero1 else "ddp"
    optimizer = model.configure_optimizer(config.max_lr, weight_decay=config.weight_decay)
    if mode == "zero1":  # the same AdamW groups; each rank keeps and updates the state of its own parameters
        from torch.distributed.optim import ZeroRedundancyOptimizer

        defaults = {k: optimizer.defaults[k] for k in ("lr", "betas", "eps")}
        groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in optimizer.param_groups]
        optimizer = ZeroRedundancyOptimizer(groups, optimizer_class=torch.optim.AdamW, **defaults)

    batch_gen = torch.Generator().manual_seed(config.seed)
    start_step = 0
    if config.resume:
        start_step = _restore(out / CHECKPOINT_NAME, model, optimizer, batch_gen, config, world_size)

    eval_gen = torch.Generator().manual_seed(config.seed + 1)
    val_batches = [get_batch(val_data, config.batch_size, config.block_size, eval_gen, device)
                   for _ in range(config.eval_batches)]

    metrics_path = out / METRICS_NAME
    if is_main:  # a fresh file, or the lines of the resumed run up to its checkpoint (later ones are redone)
        kept = [] if start_step == 0 or not metrics_path.exists() else \
            [line for line in metrics_path.read_text().splitlines() if json.loads(line)["step"] <= start_step]
        metrics_path.write_text("".join(line + "\n" for line in kept))
    result = TrainResult(out=out, world_size=world_size)
    last_step = config.stop_at if 0 < config.stop_at < config.steps else config.steps
    if is_main:
        micro = config.batch_size // (world_size * config.grad_accum)
        print(f"[rank 0] {mode}, {world_size} process(es) on {device}, {config.dtype}: global batch "
              f"{config.batch_size} = {world_size} x {config.grad_accum} x {micro} windows of {config.block_size} "
              f"tokens; steps {start_step + 1}..{last_step} of {config.steps}", flush=True)
    bar = progress(range(start_step, last_step), desc=f"train ({mode}, {world_size} proc)",
                   disable=not (is_main and config.progress))
    tokens_per_step = config.batch_size * config.block_size
    warmup_steps = config.steps // 20 if config.warmup_steps == -1 else config.warmup_steps
    train_seconds, timed_steps = 0.0, 0
    for step in bar:
        lr = warmup_cosine_lr(step, max_lr=config.max_lr, min_lr=config.min_lr,
                              warmup_steps=warmup_steps, total_steps=config.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_data, config.batch_size, config.block_size, batch_gen, device)  # (B, T): same on all
        started = time.perf_counter()
        loss = _step(net, model, optimizer, _micro_batches(x, rank, world_size, config.grad_accum),
                     _micro_batches(y, rank, world_size, config.grad_accum), config, amp_dtype, mode)
        if distributed:
            dist.all_reduce(loss)  # the mean loss of the global batch: average of the equal-sized shards
            loss /= world_size
        loss_value = loss.item()
        elapsed = time.perf_counter() - started
        if step > start_step:  # the first step pays for one-off set-up (allocations, buckets)
            train_seconds, timed_steps = train_seconds + elapsed, timed_steps + 1
        result.steps.append(step)
        result.losses.append(loss_value)
        bar.set_postfix(loss=f"{loss_value:.3f}")
        if is_main and ((step + 1) % config.log_every == 0 or step + 1 == last_step):
            record = {"step": step + 1, "loss": loss_value, "lr": lr, "tokens": (step + 1) * tokens_per_step,
                      "step_seconds": elapsed, "world_size": world_size, "mode": mode}
            with metrics_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        if config.save_every and (step + 1) % config.save_every == 0 and step + 1 < last_step:
            _save_checkpoint(out / CHECKPOINT_NAME, model, optimizer, batch_gen, step + 1, config, is_main, mode)

    held = memory_held(model, optimizer)  # now, between steps: FSDP holds only its shards (a forward gathers)
    _save_checkpoint(out / CHECKPOINT_NAME, model, optimizer, batch_gen, last_step, config, is_main, mode)
    result.val_loss = estimate_loss(net, val_batches, amp_dtype=amp_dtype)
    per_rank = [held]
    if distributed:
        per_rank = [None] * world_size
        dist.all_gather_object(per_rank, held)
    result.tokens_per_second = timed_steps * tokens_per_step / train_seconds if train_seconds > 0 else float("nan")
    result.summary = {
        "mode": mode, "world_size": world_size, "device": str(device), "dtype": config.dtype,
        "steps_done": last_step, "final_loss": result.losses[-1] if result.losses else float("nan"),
        "val_loss": result.val_loss, "tokens_per_second": result.tokens_per_second,
        "timed_steps": timed_steps, "per_rank_memory": per_rank, "config": asdict(config),
        "model_config": model_config.to_dict(),
    }
    if last_step == config.steps:
        state = _full_model_state(model, mode)
        if is_main:
            save_checkpoint(out / FINAL_NAME, _StateView(state, model_config), step=last_step,
                            extra={"run_config": asdict(config), "val_loss": result.val_loss})
    if is_main:
        (out / SUMMARY_NAME).write_text(json.dumps(result.summary, indent=2))
        print(f"[rank 0] {mode}, {world_size} process(es): step {last_step}/{config.steps}, "
                  f"train loss {result.summary['final_loss']:.4f}, val loss {result.val_loss:.4f}, "
                  f"{result.tokens_per_second:,.0f} tokens/s -> {out}", flush=True)
    return result


def _step(net: torch.nn.Module, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
          xs: list[torch.Tensor], ys: list[torch.Tensor], config: TrainRunConfig,
          amp_dtype: torch.dtype | None, mode: str) -> torch.Tensor:
    """One optimizer step over this rank's micro-batches; returns this rank's mean loss (detached)."""
    optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), dtype=torch.float64, device=xs[0].device)
    for i, (x, y) in enumerate(zip(xs, ys)):
        last = i == len(xs) - 1
        if mode == "ddp" and not last:
            context = net.no_sync()  # accumulate locally; one all-reduce on the last micro-batch
        else:
            context = _nullcontext()
        if mode == "fsdp":  # reduce-scatter the gradients only once, after the last micro-batch
            model.set_requires_gradient_sync(last)
        with context:
            with torch.autocast(device_type=x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = net(x)  # (b, T, V)
                logits = logits if logits.dtype == torch.float64 else logits.float()  # the loss in >= float32
                loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())  # (b*T, V), (b*T,)
            (loss / len(xs)).backward()
        total += loss.detach().double()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)  # global norm (DTensor-aware)
    optimizer.step()
    return total / len(xs)


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _full_model_state(model: torch.nn.Module, mode: str) -> dict[str, torch.Tensor]:
    """The whole model's ``state_dict`` on the CPU (FSDP: gathered from the shards; a collective call)."""
    if mode == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def _save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     batch_gen: torch.Generator, step: int, config: TrainRunConfig, is_main: bool, mode: str) -> None:
    """Weights, optimizer state (keyed by parameter name, the same layout for DDP and FSDP), step and the
    batch generator's state, so that a resumed run draws the batches the uninterrupted one would have."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    state = _full_model_state(model, mode)
    options = StateDictOptions(full_state_dict=True, cpu_offload=mode == "fsdp")
    if mode == "zero1":  # gather the shards on rank 0, then write them in the layout of a plain AdamW
        optimizer.consolidate_state_dict(to=0)
        if is_main:
            plain = model.configure_optimizer(config.max_lr, weight_decay=config.weight_decay)
            plain.load_state_dict(optimizer.state_dict())
            optim_state = get_optimizer_state_dict(model, plain, options=options)
    else:
        optim_state = get_optimizer_state_dict(model, optimizer, options=options)
    if is_main:
        save_checkpoint(path, _StateView(state, model.config), _StateView(optim_state), step=step,
                        extra={"run_config": asdict(config), "batch_generator": batch_gen.get_state()})
    if dist.is_initialized():
        dist.barrier()  # no rank may read the file (a later --resume) before it is complete


def _restore(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch_gen: torch.Generator,
             config: TrainRunConfig, world_size: int) -> int:
    """Load ``path`` (written by a run with the same model) into every rank; returns the step reached."""
    from torch.distributed.checkpoint import state_dict as dcp_state

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"--resume: {path} is not a {CHECKPOINT_FORMAT!r} checkpoint")
    if checkpoint["config"] != model.config.to_dict():
        raise ValueError(f"--resume: {path} holds another model ({checkpoint['config']}); "
                         f"this run builds {model.config.to_dict()}")
    options = dcp_state.StateDictOptions(full_state_dict=True)
    dcp_state.set_model_state_dict(model, checkpoint["model"], options=options)
    if hasattr(optimizer, "consolidate_state_dict"):  # ZeRO-1: through a plain AdamW, then each rank's part
        plain = model.configure_optimizer(config.max_lr, weight_decay=config.weight_decay)
        dcp_state.set_optimizer_state_dict(model, plain, checkpoint["optimizer"], options=options)
        optimizer.load_state_dict(plain.state_dict())
    else:
        dcp_state.set_optimizer_state_dict(model, optimizer, checkpoint["optimizer"], options=options)
    batch_gen.set_state(checkpoint["extra"]["batch_generator"])
    return int(checkpoint["step"])


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: exit status 0, or 2 with ``error: ...`` on stderr (on every rank) for bad arguments."""
    config = parse_args(argv)
    rank, world_size, _ = _world_from_env()
    try:
        validate(config, world_size)
    except (ValueError, FileNotFoundError) as err:
        print(f"python -m bigmodel_lib.train [rank {rank}/{world_size}]: error: {err}", file=sys.stderr, flush=True)
        return 2
    train(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
