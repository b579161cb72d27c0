"""One tower for text and images: label accuracy on held-out handwritten digits with 2D RoPE, with 1D RoPE, and the
text-only prior (3 seeds each).

    python bench/bench_digits.py --out bench/results

scikit-learn's 8 x 8 digits (shipped with it, nothing downloaded), 2 x 2 patches, 20% held out (split seed 0). Each arm
trains a fresh small Tiny-ONN (DynMoE + SML, width 48, 2 layers) for --steps steps of batch 32 to write the digit's
name after its image (tiny_onn.images.train_digits), then writes a name for every held-out digit by greedy generation
(read_digits); accuracy = the share of names written exactly. Writes digits_<date>.json / .md into --out.
"""
import argparse, datetime, json, os, platform, statistics, subprocess, sys, time
from pathlib import Path

ARMS = {"2D RoPE": dict(), "1D RoPE": dict(image_rope="1d"), "prior (no image)": dict(text_only=True)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    import torch, transformers
    transformers.utils.logging.disable_progress_bar()
    from tiny_onn.embeddings import TinyOnnTokenizer
    from tiny_onn.images import DIGIT_NAMES, digits, read_digits, train_digits
    from tiny_onn.model import TinyOnnConfig
    tok = TinyOnnTokenizer.train(" ".join(DIGIT_NAMES) + "\n", n_words=0)
    data = digits(seed=0)
    truth = [DIGIT_NAMES[int(y)] for y in data["test"]["labels"]]
    accuracy, examples, t0 = {}, None, time.time()
    for arm, kw in ARMS.items():
        text_only = kw.pop("text_only", False)
        config = TinyOnnConfig.from_tokenizer(tok, hidden_size=48, num_hidden_layers=2, num_attention_heads=2, n_experts=4, expert_dim=8,
                                              max_position_embeddings=48, image_patch_dim=4, image_grid=list(data["grid"]), **kw)
        accuracy[arm] = []
        for seed in range(args.seeds):
            model = train_digits(config, tok, data, args.steps, text_only=text_only, seed=seed)
            said = read_digits(model, tok, data["test"], text_only=text_only)
            accuracy[arm].append(sum(s == t for s, t in zip(said, truth)) / len(truth))
            if arm == "2D RoPE" and seed == 0: examples = said[:16]
            print(f"{arm:>16} seed {seed}: {accuracy[arm][-1]:.3f}", flush=True)
    stats = {a: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0) for a, v in accuracy.items()}
    summary = "; ".join(f"{a} {m:.3f} ± {s:.3f}" for a, (m, s) in stats.items())
    date = datetime.date.today().isoformat()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = dict(date=date, command=" ".join(["python"] + sys.argv), git_commit=commit, steps=args.steps, seeds=args.seeds, split_seed=0,
                  held_out=len(truth), accuracy=accuracy, summary=f"held-out label accuracy, mean ± std over {args.seeds} seeds: {summary}",
                  examples=examples, seconds=round(time.time() - t0), machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"digits_{date}.json").write_text(json.dumps(record, indent=1))
    table = ["| arm | accuracy (mean ± std) | per seed |", "|---|---|---|"]
    table += [f"| {a} | {m:.3f} ± {s:.3f} | {', '.join(f'{x:.3f}' for x in accuracy[a])} |" for a, (m, s) in stats.items()]
    (args.out / f"digits_{date}.md").write_text(f"# Handwritten digits in one tower, {date}\n\n`{record['command']}` (commit {commit}); {record['machine']}; "
                                                f"{len(truth)} held-out digits, {args.steps} steps\n\n" + "\n".join(table) + "\n")
    print(record["summary"]); print("\n".join(table))


if __name__ == "__main__":
    main()
