"""Tiny Shakespeare at equal active width: validation loss against mean active experts for every router, and the dense
model of the same width, at k in {2, 4, 6, 12} of 32 experts x 64; three seeds at k = 6.

The question: at equal active compute, does a Surprise-driven router beat top-k + load balancing and DynMoE + SDL by
more than the seed spread? Every arm is `tiny_onn.train.train` at the nanoGPT baby-GPT budget of `bench_lm.py` (same
data split, optimizer, schedule, 2000 steps, router-loss weight 0.01), in its own process with one torch thread.

The families (k = mean active experts per token; the dense arm's SwiGLU width is 64 k, the same active width) are
`tiny_onn.compare.ROUTER_FAMILIES`, explained in nbs/09_equal_compute.ipynb: dense, top-k + load balancing, DynMoE +
SDL, SML as specified (no budget: one point wherever its k drifts), SML with the log-S target + budget, utility
routing + budget, and the budget alone with no router loss.

    python bench/bench_pareto.py --corpus path/to/tinyshakespeare.txt --out bench/results
    python bench/bench_pareto.py --corpus ... --runs bench/results/pareto_runs_DATE   # continue, or analyse again

Runs already finished in the run directory are not trained again, so an interrupted invocation continues.
Throughput (tokens/s of a training step, one thread, round-robin) is measured after all training, on the trained
models. Writes OUT/pareto_DATE.json, .md and .png.
"""
import argparse, json, os, platform, sys, time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import bench_lm  # the corpus check, one run's training process, the analysis and the throughput timing

KS, SEEDS, STEPS = (2, 4, 6, 12), (1337, 1338, 1339), 2000
from tiny_onn.compare import ROUTER_FAMILIES as FAMILIES, equal_width_model  # the families, defined and checked in 09_equal_compute


def plan() -> list:
    "(run name, family, k, seed), in training order: k = 6 over three seeds first (the decisive comparison), then the curve."
    once = ("sml",)  # SML as specified has no k to set: one run, wherever its k drifts
    runs = [(f, 6, s) for s in SEEDS for f in FAMILIES if f not in once or s == SEEDS[0]]
    runs += [(f, k, SEEDS[0]) for k in (2, 12, 4) for f in FAMILIES if f not in once + ("none_budget",)]  # the control at k = 6 only
    return [(f"{f}_k{k}_s{s}", f, k, s) for f, k, s in runs]


def train_config(family: str, k: int, seed: int, corpus: Path, out: Path, steps: int) -> dict:
    cfg = bench_lm.train_config("dense", corpus, out, steps)  # the shared budget; the model is replaced below
    cfg.update(seed=seed, model={**bench_lm.COMMON, **equal_width_model(family, k, bench_lm.COMMON["n_experts"], bench_lm.EXPERT_DIM)})
    return cfg


def done(run_dir: Path) -> bool: return (run_dir / "summary.json").exists() and (run_dir / "model").is_dir()


def train_all(todo: list, corpus: Path, runs: Path, steps: int, jobs: int) -> dict:
    "Train every run in `todo` in its own process, `jobs` at a time; return {run: peak RSS MiB}."
    pending, running, peak = list(todo), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            name, family, k, seed = pending.pop(0)
            proc, log = bench_lm.launch(name, train_config(family, k, seed, corpus, runs / name, steps), runs / name)
            running[proc.pid] = (name, proc, log, time.time())
            print(f"{time.strftime('%H:%M:%S')} started {name}", flush=True)
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running: continue
        name, proc, log, t0 = running.pop(pid)
        log.close()
        if os.waitstatus_to_exitcode(status) != 0: raise SystemExit(f"{name} failed; see {runs / name / 'train.log'}")
        peak[name] = usage.ru_maxrss / 1024
        print(f"{time.strftime('%H:%M:%S')} finished {name} in {(time.time() - t0) / 60:.1f} min", flush=True)
        peak_file = runs / "peak_rss.json"
        peak_file.write_text(json.dumps({**(json.loads(peak_file.read_text()) if peak_file.exists() else {}), name: peak[name]}))
    return peak


def spread(values: list) -> str:
    v = np.array(values)
    return f"{v.mean():.4f} ± {v.std(ddof=1):.4f} (n={len(v)})" if len(v) > 1 else f"{v[0]:.4f}"


def tables(results: dict, meta: dict) -> str:
    rows = [f"Tiny Shakespeare, baby-GPT budget ({meta['steps']} steps), 32 experts x 64. {meta['date']}, {meta['machine']}, "
            f"torch {meta['torch']}. Command: `{meta['command']}`.", "",
            "| arm | k (target) | seed | val loss (whole split) | mean k (validation, eval mode) | k p10/p50/p90 | dead experts | train tokens/s |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in sorted(results.items(), key=lambda kv: (list(FAMILIES).index(r_family(kv[0])), r_k(kv[0]), kv[0])):
        k = f"{r['mean_k']:.2f}" if "mean_k" in r else f"– (width {64 * r_k(name)})"
        kq = f"{r['k_p10']:.0f}/{r['k_p50']:.0f}/{r['k_p90']:.0f}" if "mean_k" in r else "–"
        dead = f"{r['dead_experts_pct']:.1f}%" if "mean_k" in r else "–"
        tps = f"{r['tokens_per_s']:.0f}" if "tokens_per_s" in r else "–"
        target = "none" if r_family(name) == "sml" else r_k(name)
        rows.append(f"| {FAMILIES[r_family(name)][0]} | {target} | {r_seed(name)} | {r['val_loss']:.4f} | {k} | {kq} | {dead} | {tps} |")
    rows += ["", "At k = 6, mean ± std over seeds (sample std):", "", "| arm | val loss | mean k |", "|---|---|---|"]
    for f in FAMILIES:
        at6 = [r for n, r in results.items() if r_family(n) == f and r_k(n) == 6]
        if at6: rows.append(f"| {FAMILIES[f][0]} | {spread([r['val_loss'] for r in at6])} | "
                            f"{spread([r.get('mean_k', 6.0) for r in at6]) if f != 'dense' else '6 (width 384)'} |")
    return "\n".join(rows) + "\n"


def r_family(name: str) -> str: return name.rsplit("_k", 1)[0]
def r_k(name: str) -> int: return int(name.rsplit("_k", 1)[1].split("_s")[0])
def r_seed(name: str) -> int: return int(name.rsplit("_s", 1)[1])


def plot(results: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, f in enumerate(FAMILIES):
        pts = {}
        for n, r in results.items():
            if r_family(n) == f: pts.setdefault(r_k(n), []).append((r.get("mean_k", float(r_k(n))), r["val_loss"]))
        if not pts: continue
        ks = sorted(pts)
        x = [np.mean([p[0] for p in pts[k]]) for k in ks]
        y = [np.mean([p[1] for p in pts[k]]) for k in ks]
        err = [np.std([p[1] for p in pts[k]], ddof=1) if len(pts[k]) > 1 else 0 for k in ks]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=FAMILIES[f][0], color=plt.cm.tab10(i))
    ax.set(xscale="log", xlabel="mean active experts per token (dense: width / 64)", ylabel="validation loss (nats/char)",
           title="Tiny Shakespeare at equal active width")
    ax.set_xticks(KS, [str(k) for k in KS])
    ax.legend(fontsize=8); fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)


def main():
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, required=True, help="Tiny Shakespeare's input.txt (SHA-256 checked)")
    p.add_argument("--out", type=Path, default=Path("bench/results"), help="where the record, table, plot and run directories go")
    p.add_argument("--runs", type=Path, default=None, help="run directory (default OUT/pareto_runs_DATE); reuse one to continue it")
    p.add_argument("--only", nargs="+", default=None, help="train only these runs (names as in the table: family_kK_sSEED)")
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once (one torch thread each)")
    p.add_argument("--rounds", type=int, default=10, help="round-robin throughput rounds of 10 steps; 0 = skip throughput")
    p.add_argument("--train-only", action="store_true", help="stop after training (analyse later, on an idle machine)")
    a = p.parse_args()
    bench_lm.check_corpus(a.corpus)
    date = time.strftime("%Y-%m-%d")
    runs = a.runs or a.out / f"pareto_runs_{date}"
    runs.mkdir(parents=True, exist_ok=True)
    peak_file = runs / "peak_rss.json"
    todo = [r for r in plan() if not done(runs / r[0]) and (a.only is None or r[0] in a.only)]
    if todo: train_all(todo, a.corpus, runs, a.steps, a.jobs)
    if a.train_only: return
    finished = [r[0] for r in plan() if done(runs / r[0])]
    peak = json.loads(peak_file.read_text()) if peak_file.exists() else {}
    results = {}
    for name in finished:
        results[name] = {**bench_lm.analyse(runs / name, a.corpus), "peak_rss_mib": peak.get(name)}
        print(name, json.dumps(results[name]), flush=True)
    if a.rounds:
        for name, t in bench_lm.throughput(finished, runs, a.corpus, a.rounds, 10).items(): results[name].update(t)
    meta = dict(date=date, steps=a.steps, machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
                torch=torch.__version__, command="python " + " ".join(sys.argv), runs=str(runs))
    (a.out / f"pareto_{date}.json").write_text(json.dumps(dict(meta=meta, results=results), indent=1))
    (a.out / f"pareto_{date}.md").write_text(tables(results, meta))
    plot(results, a.out / f"pareto_{date}.png")
    print(tables(results, meta))


if __name__ == "__main__":
    main()
