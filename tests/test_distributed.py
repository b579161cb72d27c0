"""Two ranks on the CPU (torchrun, gloo), under DDP and under FSDP2, train the same parameters as one process with the same global batch."""
import shutil, subprocess, sys
from pathlib import Path

import pytest
import torch

TINY = ["--model", "hidden_size=32", "num_hidden_layers=2", "num_attention_heads=2", "num_key_value_heads=2", "n_experts=4", "expert_dim=8"]
KINDS = {
    "dense": ["ffn=dense", "router_loss=none", "intermediate_size=16"],
    "top-k": ["ffn=topk", "router_loss=none", "num_experts_per_tok=2"],
    "DynMoE + SML": ["ffn=dynmoe", "router_loss=sml"],
    "DynMoE + SML + budget": ["ffn=dynmoe", "router_loss=sml", "sml_target=log", "k_budget=2"],  # the controller's quantiles: global batch
    "top-k + loss-free bias": ["ffn=topk", "router_loss=none", "num_experts_per_tok=2", "bias_update_rate=0.01"],  # global expert loads
}


def _train_args(corpus: Path, out: Path, kind: str) -> list:
    return ["train", "--data", str(corpus), "--out", str(out), "--max-steps", "8", "--batch-size", "4", "--block-size", "16",
            "--warmup-steps", "2", "--eval-interval", "8", "--eval-batches", "1", "--n-words", "0", "--sample-chars", "0",
            "--progress", "false", "--plots", "false", "--threads", "1", *TINY, *KINDS[kind]]


RESUMED = list(KINDS).index("DynMoE + SML")  # the kind the resume tests stop and continue


def _half_args(corpus: Path, out: Path, steps: int) -> list:
    "That kind's run with the same 8-step schedule, stopped after `steps`."
    args = _train_args(corpus, out, "DynMoE + SML")
    return [*args[:6], str(steps), *args[7:], "--lr-decay-steps", "8"]


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(model_dir / "model.safetensors")


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "Every kind trained by one process, by two DDP ranks and by two FSDP2 ranks (one launch each: starting Python and torch once)."
    from tiny_onn.embeddings import default_corpus
    d = tmp_path_factory.mktemp("ddp")
    (d / "corpus.txt").write_text(default_corpus()[:20000])
    script = str(Path(__file__).parent / "_ddp_kinds.py")
    for name, launcher, flags in (("one", [sys.executable], []), ("two", TORCHRUN, []), ("fsdp", TORCHRUN, ["--fsdp", "true"])):
        r = subprocess.run([*launcher, script, str(d / "corpus.txt"), str(d / name), *flags], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    return d


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("mode", ["two", "fsdp"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_two_ranks_equal_one_process(runs, kind, mode):
    i = list(KINDS).index(kind)
    diff = _max_diff(_weights(runs / "one" / f"kind{i}" / "model"), _weights(runs / mode / f"kind{i}" / "model"))
    print(f"{kind}, {'DDP' if mode == 'two' else 'FSDP2'}: max |one process - two ranks| = {diff:.2e}")
    assert diff < 1e-6


def _continue(runs: Path, mode: str, out: Path, launcher: list, flags: list):
    "Copy the first half that the `mode` launch wrote (4 of 8 steps) to `out` and continue it there to step 8 in a fresh launch."
    shutil.copytree(runs / mode / "first-half", out)
    r = subprocess.run([*launcher, "-m", "tiny_onn.cli", *_half_args(runs / "corpus.txt", out, 8), *flags], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_resume_with_two_ranks_is_exact(runs, tmp_path):
    "Both ranks stopped after 4 steps and started again (`tiny-onn train` under torchrun) end where an uninterrupted two-rank run ends, bitwise."
    _continue(runs, "two", tmp_path / "run", TORCHRUN, [])
    a, b = _weights(runs / "two" / f"kind{RESUMED}" / "model"), _weights(tmp_path / "run" / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fsdp_resume_is_exact_and_its_checkpoint_continues_anywhere(runs, tmp_path):
    "FSDP2 ranks stopped after 4 steps: FSDP2 continues to the uninterrupted FSDP2 run, bitwise; one process continues the same checkpoint (full tensors, the usual numbering) to the one-process run."
    _continue(runs, "fsdp", tmp_path / "sharded", TORCHRUN, ["--fsdp", "true"])
    a, b = _weights(runs / "fsdp" / f"kind{RESUMED}" / "model"), _weights(tmp_path / "sharded" / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)
    r = _continue(runs, "fsdp", tmp_path / "alone", [sys.executable], [])
    assert _max_diff(_weights(runs / "one" / f"kind{RESUMED}" / "model"), _weights(tmp_path / "alone" / "model")) < 1e-6
    assert "number of ranks (2 -> 1)" in r.stderr  # told that this continuation leaves the two-rank trajectory


def test_a_dead_rank_is_reported(tmp_path):
    "SIGKILL one rank mid-run: torchrun stops the other and exits non-zero naming the failure, instead of waiting forever."
    import os, signal, time
    from tiny_onn.embeddings import default_corpus
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(default_corpus()[:20000])
    out = tmp_path / "run"
    cmd = [*TORCHRUN, "-m", "tiny_onn.cli", *_train_args(corpus, out, "top-k")[:6], "100000", *_train_args(corpus, out, "top-k")[7:]]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not ((out / "metrics.csv").exists() and len((out / "metrics.csv").read_text().splitlines()) > 3):
            time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 2, children
        t0 = time.time()
        os.kill(int(children[1]), signal.SIGKILL)
        _, err = p.communicate(timeout=120)
        waited = time.time() - t0
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode != 0
    assert "Signal 9" in err or "SIGKILL" in err, err[-2000:]
    assert waited < 60
