"""Data-parallel training on the CPU: one process against two torchrun ranks (gloo, DDP or FSDP2), same global batch.

The main job's model (DynMoE + SML, width 128, 4 layers, 16 experts of width 32) and its dense counterpart, batch 12 x
64 tokens, --steps steps each; training throughput is the median tokens per second of metrics.csv (steps only).
Arms: one process with 1 thread, one process with 2 threads, two ranks with 1 thread each (DDP: a full copy of the
model on each; FSDP2: each holds a slice, and the parameters rank 0 holds are recorded).

    python bench/bench_ddp.py --corpus path/to/tinyshakespeare.txt --out bench/results

writes ddp_<date>.json / .md into --out. This measures CPU processes on one machine, not GPUs.
"""
import argparse, csv, datetime, json, os, platform, statistics, subprocess, sys, tempfile
from pathlib import Path

MODELS = {"DynMoE + SML": [], "dense": ["--model", "ffn=dense", "router_loss=none", "intermediate_size=128"]}
ARMS = {"1 process, 1 thread": (1, 1, []), "1 process, 2 threads": (1, 2, []), "2 ranks, 1 thread each": (2, 1, []),
        "2 FSDP2 ranks, 1 thread each": (2, 1, ["--fsdp", "true"])}


def run(corpus: Path, out: Path, steps: int, ranks: int, threads: int, flags: list) -> tuple:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks)] if ranks > 1 else [sys.executable]
    cmd = [*launcher, "-m", "tiny_onn.cli", "train", "--data", str(corpus), "--out", str(out), "--max-steps", str(steps),
           "--eval-interval", str(steps), "--eval-batches", "1", "--sample-chars", "0", "--plots", "false", "--progress", "false",
           "--threads", str(threads), *flags]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: raise SystemExit(r.stderr[-3000:])
    with open(out / "metrics.csv") as f: tps = [float(row["tokens_per_s"]) for row in csv.DictReader(f)][5:]  # after warm-up
    info = json.loads((out / "run.json").read_text())
    return statistics.median(tps), info["parameters"], info.get("parameters_on_rank_0", info["parameters"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    p.add_argument("--steps", type=int, default=60)
    args = p.parse_args()
    import torch
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model, flags in MODELS.items():
            for arm, (ranks, threads, arm_flags) in ARMS.items():
                tps, total, held = run(args.corpus, Path(tmp) / f"{len(rows)}", args.steps, ranks, threads, flags + arm_flags)
                rows.append(dict(model=model, arm=arm, ranks=ranks, threads=threads, tokens_per_s=tps, parameters=total, parameters_on_rank_0=held))
                print(f"{model:>13} | {arm:<29} | {tps:8.0f} tokens/s | rank 0 holds {held:,} of {total:,} parameters", flush=True)
    date = datetime.date.today().isoformat()
    record = dict(date=date, command=" ".join(["python"] + sys.argv), steps=args.steps, rows=rows,
                  machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"ddp_{date}.json").write_text(json.dumps(record, indent=1))
    base = {r["model"]: r["tokens_per_s"] for r in rows if r["arm"] == "1 process, 1 thread"}
    table = ["| model | arm | tokens/s (median) | vs 1 process, 1 thread | parameters on rank 0 |", "|---|---|---|---|---|"]
    table += [f"| {r['model']} | {r['arm']} | {r['tokens_per_s']:.0f} | {r['tokens_per_s'] / base[r['model']]:.2f}x | "
              f"{r['parameters_on_rank_0']:,} of {r['parameters']:,} |" for r in rows]
    (args.out / f"ddp_{date}.md").write_text(f"# Data parallel on the CPU, {date}\n\n`{record['command']}`; {record['machine']}\n\n" + "\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
