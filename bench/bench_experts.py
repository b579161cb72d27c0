"""Cost of one MoE feed-forward against the number of experts, at a fixed active width.

The point of many tiny experts is to grow E at constant compute: with k=6 experts of width 64 active per token the
active width is 384 whatever E is, so a back-end that runs only the routed pairs should cost about the same at
E = 32 and at E = 256. Three ways to run the same layer (a top-k gate, k=6, and E SwiGLU experts of width 64 on
d=128, T=768 tokens = the Tiny Shakespeare benchmark's batch of 12 x 64):

- masked dense: every expert on every token, outputs weighted by the (mostly zero) routing weights
  (`expert_backend="dense"`);
- loop: for each expert, gather its tokens, run it, scatter-add back, in plain autograd ops (the per-expert loop
  most MoE code starts from);
- grouped: pairs sorted by expert, one grouped matrix product per projection (`expert_backend="grouped"`).

A dense SwiGLU MLP of width 384 (the same active width) is the reference. Surprise capture is off everywhere: this
measures execution. Step time = forward + backward of the layer (gate included), one thread, timed round-robin
over every configuration (median over rounds); peak RSS = the peak resident memory of a fresh process that builds
one configuration and runs 5 steps (so it includes Python and torch, the same for all).

    python bench/bench_experts.py --out bench/results
"""
import argparse, json, os, platform, resource, subprocess, sys, time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

D, T, K, WIDTH = 128, 768, 6, 64
EXPERT_COUNTS = (32, 64, 128, 256)
BACKENDS = ("masked dense", "loop", "grouped")


class LoopMoE(nn.Module):
    "The per-expert loop in plain autograd ops, on the weights of a `DynMoE` layer."
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        from tiny_onn.surprise import swiglu_expert
        bank, w = self.layer.experts, self.layer.gate(x).weights  # (T, E)
        y = torch.zeros_like(x)
        for e in range(bank.n_experts):
            idx = w[:, e].nonzero().squeeze(1)  # tokens routed to expert e
            if len(idx): y = y.index_add(0, idx, w[idx, e:e + 1] * swiglu_expert(x[idx], bank.gate_up[e], bank.down[e]))
        return y


def build(name: str, E: int):
    "The layer of one configuration, seeded, and its input."
    from tiny_onn.moe import DynMoE
    torch.manual_seed(0)
    x = torch.randn(T, D, requires_grad=True)
    if name == "dense 384":
        mlp = nn.ModuleDict(dict(gate=nn.Linear(D, K * WIDTH, bias=False), up=nn.Linear(D, K * WIDTH, bias=False),
                                 down=nn.Linear(K * WIDTH, D, bias=False)))
        return (lambda v: mlp["down"](F.silu(mlp["gate"](v)) * mlp["up"](v))), x
    layer = DynMoE.build(D, E, WIDTH, router="topk", k=K, backend="dense" if name == "masked dense" else "grouped")
    layer.experts.capture = False
    return (LoopMoE(layer) if name == "loop" else layer), x


def configs():
    return [("dense 384", 0)] + [(b, E) for E in EXPERT_COUNTS for b in BACKENDS]


def step(fn, x):
    x.grad = None
    fn(x).square().mean().backward()


def one(name: str, E: int, steps: int = 5) -> float:
    "Peak RSS (MiB) of this process after building one configuration and running `steps` steps."
    fn, x = build(name, E)
    for _ in range(steps): step(fn, x)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    p.add_argument("--rounds", type=int, default=10, help="round-robin rounds (after one warm-up round)")
    p.add_argument("--one", nargs=2, metavar=("NAME", "E"), help=argparse.SUPPRESS)  # child process: peak RSS of one configuration
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]))))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rss = {}
    for name, E in configs():
        out = subprocess.run([sys.executable, __file__, "--one", name, str(E)], capture_output=True, text=True, env=env, check=True)
        rss[f"{name}|{E}"] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:13s} E={E:3d}: peak RSS {rss[f'{name}|{E}']:.0f} MiB", flush=True)
    setups = {f"{n}|{E}": build(n, E) for n, E in configs()}
    times = {key: [] for key in setups}
    for r in range(a.rounds + 1):
        for key, (fn, x) in setups.items():
            t = time.perf_counter()
            for _ in range(3): step(fn, x)
            if r: times[key].append((time.perf_counter() - t) / 3)  # round 0 warms up
    ms = {key: 1000 * float(np.median(v)) for key, v in times.items()}
    date = time.strftime("%Y-%m-%d")
    meta = dict(date=date, machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}", torch=torch.__version__,
                command="python " + " ".join(sys.argv), T=T, d=D, k=K, expert_width=WIDTH, rounds=a.rounds)
    record = dict(meta=meta, step_ms=ms, peak_rss_mib=rss)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"experts_{date}.json").write_text(json.dumps(record, indent=1))
    ref = ms["dense 384|0"]
    lines = [f"One MoE feed-forward, forward + backward, T={T}, d={D}, top-{K} of E experts x {WIDTH}, one thread. {date}, "
             f"{meta['machine']}, torch {meta['torch']}. Command: `{meta['command']}`. Dense SwiGLU 384: {ref:.1f} ms, "
             f"peak RSS {rss['dense 384|0']:.0f} MiB.", "",
             "| E | " + " | ".join(f"{b} ms (x dense)" for b in BACKENDS) + " | " + " | ".join(f"{b} peak RSS" for b in BACKENDS) + " |",
             "|---|" + "---|" * (2 * len(BACKENDS))]
    for E in EXPERT_COUNTS:
        lines.append(f"| {E} | " + " | ".join(f"{ms[f'{b}|{E}']:.1f} ({ms[f'{b}|{E}'] / ref:.1f}x)" for b in BACKENDS) + " | "
                     + " | ".join(f"{rss[f'{b}|{E}']:.0f} MiB" for b in BACKENDS) + " |")
    (a.out / f"experts_{date}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for b in BACKENDS:
        axes[0].plot(EXPERT_COUNTS, [ms[f"{b}|{E}"] for E in EXPERT_COUNTS], "o-", label=b)
        axes[1].plot(EXPERT_COUNTS, [rss[f"{b}|{E}"] for E in EXPERT_COUNTS], "o-", label=b)
    axes[0].axhline(ref, color="k", ls="--", lw=1, label="dense SwiGLU, width 384")
    axes[1].axhline(rss["dense 384|0"], color="k", ls="--", lw=1, label="dense SwiGLU, width 384")
    axes[0].set(xscale="log", yscale="log", xlabel="experts E (k=6 active, width 64)", ylabel="ms per forward + backward",
                title="step time at constant active width")
    axes[1].set(xscale="log", xlabel="experts E (k=6 active, width 64)", ylabel="MiB", title="peak RSS of the process")
    for ax in axes: ax.minorticks_off(); ax.set_xticks(EXPERT_COUNTS, [str(E) for E in EXPERT_COUNTS]); ax.legend(fontsize=8)
    fig.suptitle(f"One MoE feed-forward on CPU (one thread), T={T}, d={D}; {date}", fontsize=10)
    fig.tight_layout()
    fig.savefig(a.out / f"experts_{date}.png", dpi=110)


if __name__ == "__main__":
    main()
