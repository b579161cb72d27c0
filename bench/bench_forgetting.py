"""Forgetting: three text domains learned in order by dense, top-k and Tiny-ONN at equal active width, with and without PI-driven plasticity.

Tiny Shakespeare, then the pydoc topics, then standard-library source code; each domain's training text capped at
--max-chars, --steps per domain, the baby-GPT size of the main job (width 128, 4 layers, context 64, batch 12),
16 experts of width 32 with 4 active (dense: width 128). After each stage every domain's validation loss is measured
on fixed windows (tiny_onn.continual).

    python bench/bench_forgetting.py --corpus path/to/tinyshakespeare.txt --out bench/results

writes forgetting_<date>.json / .md / .png into --out (the lives go to --work, not committed).
"""
import argparse, datetime, json, os, platform, shutil, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BABY = dict(batch_size=12, block_size=64, warmup_steps=100, learning_rate=1e-3,
            model=dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4))


def git_commit() -> str:
    r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    return r.stdout.strip() + ("-dirty" if dirty else "")


def domains(corpus: Path, max_chars: int) -> list:
    from tiny_onn.continual import Domain, python_docs, python_source
    from tiny_onn.data import read_text
    return [Domain.of("shakespeare", read_text(corpus), max_chars), Domain.of("docs", python_docs(), max_chars),
            Domain.of("code", python_source(), max_chars)]


def one(job: dict) -> dict:
    import torch
    torch.set_num_threads(1)  # one process per core
    from tiny_onn.continual import continual_run
    from tiny_onn.embeddings import TinyOnnTokenizer
    ds = domains(Path(job["corpus"]), job["max_chars"])
    tok = TinyOnnTokenizer.train("".join(d.train for d in ds), n_words=0)
    root = Path(job["work"]) / f"{job['arm']}_seed{job['seed']}"
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    run = continual_run(job["arm"], ds, tok, job["steps"], root, seed=job["seed"], k=4, n_experts=16, expert_dim=32, **BABY)
    run["seconds"] = time.perf_counter() - t0
    print(f"{job['arm']} seed {job['seed']}: {run['seconds']:.0f} s", flush=True)
    return run


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, required=True, help="Tiny Shakespeare (the first domain)")
    p.add_argument("--out", type=Path, default=Path("bench/results"), help="where the record goes")
    p.add_argument("--work", type=Path, default=Path("runs/forgetting"), help="the lives' directories (not committed)")
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps per domain")
    p.add_argument("--max-chars", type=int, default=300_000, help="training characters per domain (the first ones)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--arms", nargs="+", default=None, help="default: every arm of tiny_onn.continual.ARMS")
    p.add_argument("--workers", type=int, default=2, help="processes (one torch thread each)")
    args = p.parse_args()
    from tiny_onn.continual import ARMS, summary_table, plot_continual
    import torch, transformers
    arms = args.arms or list(ARMS)
    jobs = [dict(arm=a, seed=s, corpus=str(args.corpus), work=str(args.work), steps=args.steps, max_chars=args.max_chars)
            for s in args.seeds for a in arms]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool: runs = list(pool.map(one, jobs))
    date = datetime.date.today().isoformat()
    record = dict(date=date, command=" ".join(["python"] + sys.argv), git_commit=git_commit(),
                  machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, transformers {transformers.__version__}",
                  steps=args.steps, max_chars=args.max_chars, seeds=args.seeds, settings=dict(BABY, k=4, n_experts=16, expert_dim=32),
                  seconds=time.perf_counter() - t0, runs=runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"forgetting_{date}.json").write_text(json.dumps(record, indent=1))
    table = summary_table(runs)
    (args.out / f"forgetting_{date}.md").write_text(f"# Forgetting, {date}\n\n`{record['command']}` at {record['git_commit']}\n\n"
                                                    f"{record['machine']}; {record['seconds']:.0f} s\n\n{table}\n")
    fig = plot_continual(runs, f"{args.steps} steps per domain, {len(args.seeds)} seeds")
    fig.savefig(args.out / f"forgetting_{date}.png", dpi=100)
    print(table)


if __name__ == "__main__":
    main()
