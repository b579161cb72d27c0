"""Cost of Surprise capture: training-step time and peak memory of a 4-layer MoE language-model-shaped stack.

Configurations (same model, same data, same dense expert back-end):
  baseline   capture off, no router loss
  capture    Surprise recorded in the backward
  sml        capture + SML (gate loss on detached inputs, router-only backward)
  autograd   the original design's route: dense full_expert_outputs (T, E, d) per layer and
             torch.autograd.grad(loss, full_expert_outputs, retain_graph=True) before the main backward

Each configuration runs in its own process (peak RSS from the OS via ru_maxrss); repeats are interleaved
(baseline, capture, sml, autograd, baseline, ...) and we quote medians over repeats and ratios to baseline.

  python bench/bench_surprise.py --out bench/results            # the full run (make bench)
  python bench/bench_surprise.py --worker sml --steps 5         # one configuration, prints JSON

Time is also measured with every configuration in one process, stepped round-robin: per-process medians
on a shared machine drift by tens of percent, while a round's steps see the same conditions.
"""
import argparse, datetime, json, os, platform, resource, statistics, subprocess, sys, time
from pathlib import Path

CONFIGS = ("baseline", "capture", "sml", "autograd")


def build(config: str, d=128, n_layers=4, n_heads=4, n_experts=32, expert_dim=64, vocab=65, seed=0):
    import torch, torch.nn as nn, torch.nn.functional as F
    from tiny_onn.moe import DynMoE, RouterLoss
    from tiny_onn.surprise import full_expert_outputs

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
            loss = RouterLoss("sml" if config == "sml" else "none")
            self.moe = DynMoE.build(d, n_experts, expert_dim, loss=loss, backend="dense")  # every pair, as the recorded run
            self.moe.experts.capture = config in ("capture", "sml")

        def forward(self, x, fulls):
            B, T, _ = x.shape
            q, k, v = self.qkv(F.rms_norm(x, (d,))).view(B, T, 3, n_heads, d // n_heads).permute(2, 0, 3, 1, 4)
            x = x + self.proj(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, d))
            h = F.rms_norm(x, (d,))
            if config != "autograd": return x + self.moe(h)
            flat = h.reshape(-1, d)  # the original route: plain autograd over a dense (T, E, d) tensor
            w = self.moe.gate(flat).weights
            full = full_expert_outputs(flat, self.moe.experts.gate_up, self.moe.experts.down)  # (T, E, d)
            fulls.append(full)
            return x + torch.einsum("te,ted->td", w, full).view_as(x)

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.blocks = nn.Embedding(vocab, d), nn.ModuleList(Block() for _ in range(n_layers))
            self.head = nn.Linear(d, vocab, bias=False)

        def forward(self, idx, fulls):
            x = self.emb(idx)
            for b in self.blocks: x = b(x, fulls)
            return self.head(F.rms_norm(x, (d,)))

    torch.manual_seed(seed)
    return Stack()


def make_step(config: str, batch=12, block=64, vocab=65):
    "A function that runs one training step of `config` on fresh random tokens and returns its wall time."
    import torch, torch.nn.functional as F
    from tiny_onn.moe import surprise_backward
    model = build(config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)

    def step() -> float:
        idx = torch.randint(0, vocab, (batch, block + 1), generator=gen)
        t0 = time.perf_counter()
        fulls = []
        logits = model(idx[:, :-1], fulls)
        loss = F.cross_entropy(logits.reshape(-1, vocab), idx[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        if config == "autograd":
            grads = torch.autograd.grad(loss, fulls, retain_graph=True)
            surprise = [g.norm(dim=-1) for g in grads]  # (T, E) output-gradient Surprise per layer
        loss.backward()
        if config == "sml": surprise_backward(model)
        opt.step()
        return time.perf_counter() - t0
    return step


def _threads():
    import torch
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))


def worker(config: str, steps: int, warmup: int) -> dict:
    "One configuration alone in this process: median step time and the process's peak RSS."
    _threads()
    step = make_step(config)
    times = [step() for _ in range(warmup + steps)][warmup:]
    return dict(config=config, step_ms=1e3 * statistics.median(times), peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def round_robin(steps: int, warmup: int) -> dict:
    "All configurations in one process, one step each per round: slow drifts of a shared machine hit every one alike."
    _threads()
    fns = {c: make_step(c) for c in CONFIGS}
    rounds = [{c: fns[c]() for c in CONFIGS} for _ in range(warmup + steps)][warmup:]
    return dict(step_ms={c: 1e3 * statistics.median(r[c] for r in rounds) for c in CONFIGS},
                ratio={c: statistics.median(r[c] / r["baseline"] for r in rounds) for c in CONFIGS})


def report(record: dict) -> str:
    "The markdown table of a record: medians, ratios, and the min-max range over processes (the machine's noise)."
    lines = ["| configuration | step time, ms (median) | range over processes | x baseline | peak RSS, MB (median) | x baseline |",
             "|---|---|---|---|---|---|"]
    for c in CONFIGS:
        t = [r["step_ms"] for r in record["runs"][c]]
        lines.append(f"| {c} | {record['median'][c]['step_ms']:.0f} | {min(t):.0f}-{max(t):.0f} | {record['ratio'][c]['time']:.2f} "
                     f"| {record['median'][c]['peak_rss_mb']:.0f} | {record['ratio'][c]['memory']:.2f} |")
    if "round_robin" in record:
        rr = record["round_robin"]
        lines += ["", "Round-robin in one process (median of per-round ratios to the baseline step of the same round):", "",
                  "| configuration | step time, ms (median) | x baseline |", "|---|---|---|"]
        lines += [f"| {c} | {rr['step_ms'][c]:.0f} | {rr['ratio'][c]:.3f} |" for c in CONFIGS]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=CONFIGS, help="run one configuration in this process and print JSON")
    ap.add_argument("--round-robin-steps", type=int, default=60, help="timed rounds of the in-process round-robin timing")
    ap.add_argument("--report", type=Path, help="print the table of an existing record and exit")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per process")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--repeats", type=int, default=5, help="processes per configuration, interleaved")
    ap.add_argument("--out", type=Path, default=Path("bench/results"), help="directory for the JSON record")
    args = ap.parse_args()
    if args.report:
        print(report(json.loads(args.report.read_text())))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.warmup)))
        return
    runs = {c: [] for c in CONFIGS}
    for rep in range(args.repeats):
        for c in CONFIGS:
            out = subprocess.run([sys.executable, __file__, "--worker", c, "--steps", str(args.steps), "--warmup", str(args.warmup)],
                                 check=True, capture_output=True, text=True).stdout
            runs[c].append(json.loads(out.strip().splitlines()[-1]))
            print(f"repeat {rep} {c:9s} {runs[c][-1]['step_ms']:8.1f} ms/step  peak RSS {runs[c][-1]['peak_rss_mb']:7.1f} MB", flush=True)
    print("round-robin timing in one process ...", flush=True)
    rr = round_robin(args.round_robin_steps, args.warmup)
    med = {c: dict(step_ms=statistics.median(r["step_ms"] for r in runs[c]),
                   peak_rss_mb=statistics.median(r["peak_rss_mb"] for r in runs[c])) for c in CONFIGS}
    base = med["baseline"]
    import torch
    record = dict(date=datetime.date.today().isoformat(), command=" ".join([Path(sys.executable).name] + sys.argv),
                  machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}", torch=torch.__version__,
                  shape="4 layers, d=128, 4 heads, 32 experts x 64 (dense back-end, DynMoE gate), batch 12 x 64, AdamW",
                  steps=args.steps, warmup=args.warmup, repeats=args.repeats, runs=runs, median=med, round_robin=rr,
                  ratio={c: dict(time=med[c]["step_ms"] / base["step_ms"], memory=med[c]["peak_rss_mb"] / base["peak_rss_mb"]) for c in CONFIGS})
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"surprise_{record['date']}.json"
    path.write_text(json.dumps(record, indent=1))
    print(report(record))
    print(f"\nrecord: {path}")


if __name__ == "__main__":
    main()
