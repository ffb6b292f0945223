"""The training entry point (bigmodel_lib.train): one process, and two under torchrun (gloo, CPU, float64).

Two processes reach the weights of one process with the same global batch; FSDP and ZeRO-1 reach DDP's; gradient
accumulation equals one big batch; a resumed run equals an uninterrupted one; bad arguments stop every
rank with a message and no hang. Tiny model, few steps: the whole file takes about a minute on 2 busy cores.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bigmodel_lib.train import TrainRunConfig, main, train

REPO = Path(__file__).resolve().parent.parent
TINY = ["--steps", "4", "--batch-size", "8", "--block-size", "16", "--n-layer", "1", "--n-head", "2",
        "--d-model", "16", "--dtype", "float64", "--threads", "1", "--eval-batches", "1", "--no-progress"]
TIMEOUT_S = 180  # far above a normal launch (about 10 s); reached only if something hangs


def torchrun(*args, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
           "-m", "bigmodel_lib.train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)


def weights(out):
    return torch.load(Path(out) / "final.pt", map_location="cpu", weights_only=True)["model"]


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One process in this process (the Python API), then DDP, FSDP and ZeRO-1 with 2 processes (torchrun)."""
    root = tmp_path_factory.mktemp("train")
    single = train(TINY + ["--out", str(root / "single")])
    launched = {}
    for name, extra in (("ddp", []), ("fsdp", ["--fsdp"]), ("zero1", ["--zero1"])):
        done = torchrun(*TINY, "--out", str(root / name), *extra)
        assert done.returncode == 0, done.stderr[-3000:]
        launched[name] = done
    return root, single, launched


def test_two_processes_reach_the_weights_of_one(runs):
    root, single, _ = runs
    assert max_difference(weights(root / "single"), weights(root / "ddp")) < 1e-9
    ddp_losses = [json.loads(line)["loss"] for line in (root / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert ddp_losses == pytest.approx(single.losses, abs=1e-9)


def test_fsdp_reaches_the_weights_of_ddp_and_holds_half_of_everything(runs):
    root, _, _ = runs
    assert max_difference(weights(root / "ddp"), weights(root / "fsdp")) < 1e-9
    ddp = json.loads((root / "ddp" / "summary.json").read_text())["per_rank_memory"]
    fsdp = json.loads((root / "fsdp" / "summary.json").read_text())["per_rank_memory"]
    assert len(ddp) == len(fsdp) == 2
    for kind in ("parameter_bytes", "gradient_bytes", "optimizer_bytes"):
        assert ddp[0][kind] == ddp[1][kind] > 0  # DDP: every rank holds everything
        assert fsdp[0][kind] + fsdp[1][kind] == ddp[0][kind]  # FSDP: the two shards make one copy
    assert ddp[0]["optimizer_bytes"] == 2 * ddp[0]["parameter_bytes"]  # Adam: m and v


def test_zero1_reaches_the_weights_of_ddp_and_shards_only_the_optimizer_state(runs):
    root, _, _ = runs
    assert max_difference(weights(root / "ddp"), weights(root / "zero1")) < 1e-9
    ddp = json.loads((root / "ddp" / "summary.json").read_text())["per_rank_memory"]
    zero1 = json.loads((root / "zero1" / "summary.json").read_text())["per_rank_memory"]
    for rank in (0, 1):
        assert zero1[rank]["parameter_bytes"] == ddp[rank]["parameter_bytes"]
        assert zero1[rank]["gradient_bytes"] == ddp[rank]["gradient_bytes"]
        assert 0 < zero1[rank]["optimizer_bytes"] < ddp[rank]["optimizer_bytes"]
    assert zero1[0]["optimizer_bytes"] + zero1[1]["optimizer_bytes"] == ddp[0]["optimizer_bytes"]


def test_outputs_final_weights_metrics_and_rank_0_alone_prints(runs):
    root, single, launched = runs
    checkpoint = torch.load(root / "ddp" / "final.pt", weights_only=True)
    assert checkpoint["step"] == 4 and checkpoint["config"]["n_layer"] == 1
    from bigmodel_lib.contracts.gpt import GPTConfig
    from bigmodel_lib.nn_torch.gpt import GPT

    model = GPT(GPTConfig(**checkpoint["config"]), dtype=torch.float64)
    model.load_state_dict(checkpoint["model"])
    lines = [json.loads(line) for line in (root / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4]
    assert {"loss", "lr", "tokens", "step_seconds", "world_size"} <= lines[0].keys()
    assert lines[-1]["tokens"] == 4 * 8 * 16 and lines[0]["world_size"] == 2
    assert single.world_size == 1 and len(single.losses) == 4
    out = launched["ddp"].stdout
    assert out.count("[rank 0] ddp, 2 process(es)") == 2 and "rank 1" not in out  # the first and last lines


def test_gradient_accumulation_equals_one_big_batch(tmp_path):
    train(TINY + ["--out", str(tmp_path / "m1")])
    train(TINY + ["--out", str(tmp_path / "m4"), "--grad-accum", "4"])
    assert max_difference(weights(tmp_path / "m1"), weights(tmp_path / "m4")) < 1e-9


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    train(TINY + ["--out", str(tmp_path / "straight")])
    first = train(TINY + ["--out", str(tmp_path / "resumed"), "--stop-at", "2"])
    assert len(first.losses) == 2 and not (tmp_path / "resumed" / "final.pt").exists()
    second = train(TINY + ["--out", str(tmp_path / "resumed"), "--resume"])
    assert second.steps == [2, 3]
    assert max_difference(weights(tmp_path / "straight"), weights(tmp_path / "resumed")) < 1e-9
    assert len((tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize(("args", "message"), [
    (["--dtype", "float16"], "--dtype must be one of"),
    (["--batch-size", "6", "--grad-accum", "4"], "must be divisible by processes x --grad-accum"),
    (["--resume"], "--resume: no checkpoint at"),
    (["--d-model", "15"], "divisible by --n-head"),
    (["--fsdp", "--zero1"], "exclude each other"),
])
def test_bad_arguments_stop_with_a_clear_message(tmp_path, capsys, args, message):
    assert main(TINY + ["--out", str(tmp_path / "bad")] + args) == 2
    assert message in capsys.readouterr().err
    with pytest.raises((ValueError, FileNotFoundError), match=message.split()[0]):
        train(TINY + ["--out", str(tmp_path / "bad")] + args)


def test_bad_arguments_under_torchrun_stop_every_rank_without_hanging(tmp_path):
    done = torchrun(*TINY, "--batch-size", "7", "--out", str(tmp_path / "bad"))  # 7 rows cannot split over 2 ranks
    assert done.returncode != 0
    for rank in (0, 1):
        assert f"[rank {rank}/2]: error: --batch-size 7 must be divisible" in done.stderr


def test_the_config_dataclass_and_the_command_line_agree():
    from bigmodel_lib.train import parse_args

    assert parse_args([]) == TrainRunConfig()
    assert parse_args(["--fsdp", "--grad-accum", "2"]) == TrainRunConfig(fsdp=True, grad_accum=2)
