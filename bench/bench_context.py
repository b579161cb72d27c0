"""Context extension: a model trained on 64-character windows, scored at 64, 128, 256 and 512 characters with plain RoPE,
linear interpolation, dynamic NTK and YaRN.

    python bench/bench_context.py --corpus path/to/tinyshakespeare.txt --out bench/results

Trains the default Tiny-ONN of `tiny-onn train` (block size 64) for --steps steps on the corpus, then scores nanoGPT's
validation split (the last 10%) at each length with each scaling (`tiny_onn.rope.context_losses`: nats per character
over non-overlapping windows, every position counted). Writes context_<date>.json / .md into --out.
"""
import argparse, datetime, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

LENGTHS = [64, 128, 256, 512]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1337)
    args = p.parse_args()
    import torch, transformers
    transformers.utils.logging.disable_progress_bar()  # a "Loading weights" bar per evaluation: noise
    from tiny_onn.data import encode, load_model, read_text, split_text
    from tiny_onn.rope import ROPE_TYPES, context_losses
    from tiny_onn.train import TrainConfig, train
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(data=str(args.corpus), out=str(Path(tmp) / "run"), block_size=LENGTHS[0], max_steps=args.steps, seed=args.seed,
                          sample_chars=0, plots=False, progress=False, threads=torch.get_num_threads())
        summary = train(cfg, log=None)
        model_dir = Path(tmp) / "run" / "model"
        _, tok = load_model(model_dir)
        ids = encode(tok, split_text(read_text(args.corpus))[1])
        rows = context_losses(model_dir, ids, LENGTHS)
    by = {(r["kind"], r["length"]): r["loss"] for r in rows}
    longest = LENGTHS[-1]
    text = (f"trained at {LENGTHS[0]} ({args.steps} steps, val loss {by[('default', LENGTHS[0])]:.4f} nats/char); at {longest}: "
            + ", ".join(f"{k} {by[(k, longest)]:.4f}" for k in ROPE_TYPES))
    date = datetime.date.today().isoformat()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = dict(date=date, command=" ".join(["python"] + sys.argv), git_commit=commit, steps=args.steps, seed=args.seed,
                  trained_context=LENGTHS[0], lengths=LENGTHS, model=cfg.model_kwargs(), train_val_loss=summary["val_loss"],
                  rows=rows, summary=text, seconds=round(time.time() - t0),
                  machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"context_{date}.json").write_text(json.dumps(record, indent=1))
    table = ["| RoPE | " + " | ".join(str(n) for n in LENGTHS) + " |", "|---|" + "---|" * len(LENGTHS)]
    table += [f"| {k} | " + " | ".join(f"{by[(k, n)]:.4f}" for n in LENGTHS) + " |" for k in ROPE_TYPES]
    (args.out / f"context_{date}.md").write_text(f"# Context extension, {date}\n\n`{record['command']}` (commit {commit}); {record['machine']}\n\n"
                                                 f"Validation loss in nats per character at each context length.\n\n" + "\n".join(table) + "\n")
    print(text); print("\n".join(table))


if __name__ == "__main__":
    main()
