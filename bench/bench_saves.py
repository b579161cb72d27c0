"""Bytes written per save by a life: a full save against the incremental one, in three training regimes.

The main job's model size (width 128, 4 layers, context 64, batch 12) with top-4 of 16 and of 32 experts (width 32); a
save after each of 5 steps of router-only training (experts frozen), SMK (one expert per layer updated) and joint
training (everything), on the first 100,000 characters of the corpus (tiny_onn.life.save_costs). Bytes, not seconds:
the numbers do not depend on the machine.

    python bench/bench_saves.py --corpus path/to/tinyshakespeare.txt --out bench/results

writes saves_<date>.json / .md into --out.
"""
import argparse, datetime, json, sys, tempfile
from pathlib import Path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, required=True, help="any UTF-8 text file (Tiny Shakespeare in the record)")
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    args = p.parse_args()
    import torch
    torch.set_num_threads(1)
    from tiny_onn.data import read_text
    from tiny_onn.embeddings import TinyOnnTokenizer
    from tiny_onn.life import REGIMES, save_costs
    from tiny_onn.train import TrainConfig
    text = read_text(args.corpus)[:100_000]
    tok = TinyOnnTokenizer.train(text, n_words=0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_experts in (16, 32):
            cfg = TrainConfig(batch_size=12, block_size=64, n_words=0, progress=False,
                              model=dict(ffn="topk", router_loss="load_balancing", n_experts=n_experts, expert_dim=32, num_experts_per_tok=4))
            for regime in REGIMES:
                r = save_costs(regime, cfg, tok, text, Path(tmp) / f"{n_experts}_{regime}")
                rows.append(dict(r, n_experts=n_experts, ratio=r["full"] / r["incremental"]))
                print(f"{n_experts} experts, {regime:>11}: full {r['full']:>11,} B, incremental {r['incremental']:>11,} B, {rows[-1]['ratio']:.1f}x", flush=True)
    date = datetime.date.today().isoformat()
    record = dict(date=date, command=" ".join(["python"] + sys.argv), rows=rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"saves_{date}.json").write_text(json.dumps(record, indent=1))
    table = ["| experts per layer | regime | full save (bytes) | incremental save (bytes, median of 5) | fewer |", "|---|---|---|---|---|"]
    table += [f"| {r['n_experts']} | {r['regime']} | {r['full']:,} | {r['incremental']:,} | {r['ratio']:.1f}x |" for r in rows]
    (args.out / f"saves_{date}.md").write_text(f"# Bytes per save, {date}\n\n`{record['command']}`\n\n" + "\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
