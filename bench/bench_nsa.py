"""DynNSA against dense attention on Tiny Shakespeare at context 256: validation loss, blocks chosen per query, and the
time of one attention layer.

    python bench/bench_nsa.py --corpus path/to/tinyshakespeare.txt --out bench/results

Trains the same model (width 128, 4 layers, 4 heads, dense SwiGLU feed-forward) twice with `tiny_onn.train.train`,
block size 256, batch 12, --steps steps, once with dense attention and once with DynNSA in every layer (blocks of 16,
window 32, tau from 1, cost 0.01). Then: the whole validation split's loss (nats/char) of each; DynNSA's mean blocks
chosen per query on 32 validation windows, per layer, against the complete blocks available; and the median time of
one attention layer's forward + backward on a (12, 256, 128) input, DynNSA over dense (20 repetitions, one run).
Writes nsa_<date>.json / .md into --out.
"""
import argparse, datetime, json, os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path

MODEL = dict(ffn="dense", router_loss="none", nsa_block=16, nsa_window=32)


def layer_time(attn, x, cos, sin, reps: int = 20) -> float:
    "Median seconds of one forward + backward of an attention layer."
    times = []
    for i in range(reps + 3):
        x.grad = None
        t = time.perf_counter()
        attn(x, cos, sin, None).sum().backward()
        if i >= 3: times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--block-size", type=int, default=256)
    args = p.parse_args()
    import torch, transformers
    transformers.utils.logging.disable_progress_bar()
    from tiny_onn.data import encode, load_model, read_text, split_text, windows
    from tiny_onn.rope import rope_cos_sin
    from tiny_onn.train import TrainConfig, train
    t0, val_loss, models = time.time(), {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for arm, attention in (("dense attention", "dense"), ("DynNSA", "dynnsa")):
            cfg = TrainConfig(data=str(args.corpus), out=str(Path(tmp) / attention), block_size=args.block_size, batch_size=12, max_steps=args.steps,
                              sample_chars=0, plots=False, progress=False, threads=torch.get_num_threads(), model=dict(MODEL, attention=attention))
            val_loss[arm] = train(cfg, log=None)["val_loss"]
            models[arm] = load_model(Path(tmp) / attention / "model")
            print(f"{arm}: val loss {val_loss[arm]:.4f}", flush=True)
    nsa, tok = models["DynNSA"]
    val = encode(tok, split_text(read_text(args.corpus))[1])
    starts = torch.linspace(0, len(val) - args.block_size - 1, 32).long()
    chosen, complete = [], []
    with torch.no_grad():
        nsa(val[windows(starts, args.block_size)[:, :-1]])
        for block in nsa.model.layers:
            chosen.append(block.self_attn.blocks_selected.item()); complete.append(block.self_attn.blocks_complete.item())
    torch.manual_seed(0)
    x = torch.randn(12, args.block_size, nsa.config.hidden_size, requires_grad=True)
    cos, sin = rope_cos_sin(torch.arange(args.block_size)[None].expand(12, -1), nsa.config, x.dtype)
    seconds = {arm: layer_time(m.model.layers[0].self_attn.train(), x, cos, sin) for arm, (m, _) in models.items()}
    ratio = seconds["DynNSA"] / seconds["dense attention"]
    fraction = sum(chosen) / sum(complete)
    summary = (f"val loss: dense attention {val_loss['dense attention']:.4f}, DynNSA {val_loss['DynNSA']:.4f} nats/char; DynNSA chooses "
               f"{sum(chosen) / len(chosen):.2f} of {sum(complete) / len(complete):.2f} complete blocks per query on average ({fraction:.0%}), "
               f"per layer {[round(c, 2) for c in chosen]}; one attention layer forward + backward: DynNSA {seconds['DynNSA'] * 1e3:.1f} ms, "
               f"dense {seconds['dense attention'] * 1e3:.1f} ms ({ratio:.2f}x)")
    date = datetime.date.today().isoformat()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = dict(date=date, command=" ".join(["python"] + sys.argv), git_commit=commit, steps=args.steps, block_size=args.block_size,
                  model=dict(MODEL), val_loss=val_loss, blocks_per_layer=chosen, complete_per_layer=complete, chosen_fraction=fraction,
                  thresholds=[b.self_attn.threshold.tolist() for b in nsa.model.layers], layer_seconds=seconds, time_ratio=ratio,
                  summary=summary, seconds=round(time.time() - t0), machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"nsa_{date}.json").write_text(json.dumps(record, indent=1))
    (args.out / f"nsa_{date}.md").write_text(f"# DynNSA against dense attention, {date}\n\n`{record['command']}` (commit {commit}); {record['machine']}\n\n{summary}\n")
    print(summary)


if __name__ == "__main__":
    main()
