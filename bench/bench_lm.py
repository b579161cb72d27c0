"""Tiny Shakespeare language-model benchmark: dense MLP vs top-k MoE vs DynMoE + SDL vs Tiny-ONN (DynMoE + SML), and
dense attention vs DynSMHA vs DynSIHA (with the dense MLP).

nanoGPT's CPU "baby GPT" budget (d=128, 4 layers, 4 heads, block 64, batch 12, 2000 steps, lr 1e-3 cosine to 1e-4,
warmup 100, AdamW beta2 0.99, weight decay 0.1, clip 1.0), first 90% train / last 10% validation, character level,
the same seed and data order for every arm. MoE arms have the dense arm's *active* width: target k x expert width
= 6 x 64 = 384 = the dense SwiGLU width.

Four phases, so that no number is measured under the wrong conditions:
1. training: every arm is `tiny_onn.train.train` in its own process (one torch thread each, `--jobs` at once);
   peak memory is that process's peak RSS (os.wait4), losses come from its run directory;
2. analysis, per arm (the saved model): validation loss over the whole split, and in the same pass the k of every
   validation token and the experts that never fire; train loss over as many fixed training windows;
3. throughput: training steps of every arm timed round-robin in this one process (one thread), so machine drift
   hits every arm alike; tokens/s is the median over rounds of 10 steps (so a round holds one step of an arm that
   scans every 10th);
4. generation: greedy `generate()` with the KV cache, 200 new tokens after a 16-token prompt, batch 1 and batch 16,
   timed round-robin the same way (one thread, median over rounds).

An arm whose run directory already holds a finished run (summary.json and model/) is not trained again, so
arms can be added to an earlier invocation's runs; `--record` names the result files.

    python bench/bench_lm.py --corpus path/to/tinyshakespeare.txt --out bench/results
    python bench/bench_lm.py --corpus path/to/tinyshakespeare.txt --out bench/results --record lm_attention --arms dense dynsmha dynsiha dense_wide

The corpus is Andrej Karpathy's Tiny Shakespeare, `data/tinyshakespeare/input.txt` of the GitHub repository
karpathy/char-rnn (the file nanoGPT's shakespeare_char downloads): 1,115,394 bytes, SHA-256 below. Its SHA-256 is
checked before anything runs, so the results compare with the recorded ones.
"""
import argparse, hashlib, json, os, platform, subprocess, sys, time
from pathlib import Path

import numpy as np
import torch

STEPS, TARGET_K, EXPERT_DIM = 2000, 6, 64
ARMS = {  # name: (label, TinyOnnConfig overrides)
    "dense": ("dense SwiGLU MLP (384)", dict(ffn="dense", intermediate_size=TARGET_K * EXPERT_DIM, router_loss="none")),
    "topk_lb": ("top-k MoE + load balancing", dict(ffn="topk", num_experts_per_tok=TARGET_K, router_loss="load_balancing")),
    "dynmoe_sdl": ("DynMoE + SDL", dict(ffn="dynmoe", router_loss="sdl", sdl_target_k=float(TARGET_K))),
    # Tiny-ONN at each Surprise scope: the default (routed pairs only), + 2 random unrouted experts per token, every
    # pair (the original design, what the dense back-end computed), and routed pairs with every pair on each 10th step
    "tiny_onn": ("Tiny-ONN (DynMoE + SML), Surprise on routed pairs", dict(ffn="dynmoe", router_loss="sml")),
    "tiny_onn_sampled": ("Tiny-ONN, Surprise on routed + 2 sampled pairs", dict(ffn="dynmoe", router_loss="sml", surprise_scope="sampled", surprise_samples=2)),
    "tiny_onn_all": ("Tiny-ONN, Surprise on every pair", dict(ffn="dynmoe", router_loss="sml", surprise_scope="all")),
    "tiny_onn_scan": ("Tiny-ONN, Surprise on routed pairs, every pair each 10th step", dict(ffn="dynmoe", router_loss="sml", surprise_scan_every=10)),
    "tiny_onn_log": ("Tiny-ONN, Surprise on routed pairs, scale-free SML target (log S)", dict(ffn="dynmoe", router_loss="sml", sml_target="log")),
    "tiny_onn_8x128": ("Tiny-ONN, 8 x 128 experts", dict(ffn="dynmoe", router_loss="sml", n_experts=8, expert_dim=128)),
    # sparse attention, each with the dense arm's MLP, so they differ from it only in attention
    "dynsmha": ("DynSMHA attention (heads as experts), dense MLP", dict(ffn="dense", intermediate_size=TARGET_K * EXPERT_DIM,
                                                                       router_loss="none", attention="dynsmha")),
    "dynsiha": ("DynSIHA attention (MoIE projections), dense MLP", dict(ffn="dense", intermediate_size=TARGET_K * EXPERT_DIM,
                                                                        router_loss="none", attention="dynsiha")),
    # control for DynSIHA's extra parameters (its keys): dense attention, MLP widened by 172 SwiGLU units = 264,192 parameters
    "dense_wide": ("dense, MLP widened to DynSIHA's parameter count (556)", dict(ffn="dense", intermediate_size=556, router_loss="none")),
}
COMMON = dict(n_experts=32, expert_dim=EXPERT_DIM, router_loss_weight=0.01)
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


def check_corpus(path: Path) -> None:
    "Refuse a missing file or one that is not byte-for-byte Tiny Shakespeare, saying where to get it."
    get = f"download it once from {TINY_SHAKESPEARE_URL} and pass its path"
    if not path.is_file(): raise SystemExit(f"corpus not found: {path}; {get}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != TINY_SHAKESPEARE_SHA256:
        raise SystemExit(f"{path} is not Tiny Shakespeare (SHA-256 {digest}, expected {TINY_SHAKESPEARE_SHA256}); {get}")


def train_config(arm: str, corpus: Path, out: Path, steps: int) -> dict:
    model = {**COMMON, **ARMS[arm][1]}
    return dict(data=str(corpus.resolve()), out=str(out), seed=1337, max_steps=steps, batch_size=12, block_size=64,
                learning_rate=1e-3, min_lr=1e-4, warmup_steps=100, weight_decay=0.1, beta2=0.99, grad_clip=1.0,
                eval_interval=250, eval_batches=20, save_interval=500, n_words=0, sample_chars=300, resume="never", threads=1,
                progress=False, model=model)


def launch(arm: str, cfg: dict, run_dir: Path):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg, indent=1))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    code = ("import torch; torch.set_num_threads(1)\n"
            "from tiny_onn.train import load_config, train\n"
            f"train(load_config({str(run_dir / 'config.json')!r}))\n")
    log = open(run_dir / "train.log", "w")
    return subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, env=env), log


def run_training(arms: list, corpus: Path, runs: Path, steps: int, jobs: int) -> dict:
    "Phase 1: train every arm in its own process, `jobs` at a time; return {arm: peak RSS in MiB}."
    slowest_first = ["tiny_onn_all", "tiny_onn_8x128", "tiny_onn_sampled", "tiny_onn_scan", "tiny_onn_log", "tiny_onn", "dynsiha", "dynmoe_sdl", "topk_lb",
                     "dynsmha", "dense_wide", "dense"]  # packs the lanes evenly
    pending, running, peak = sorted(arms, key=slowest_first.index), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            arm = pending.pop(0)
            proc, log = launch(arm, train_config(arm, corpus, runs / arm, steps), runs / arm)
            running[proc.pid] = (arm, proc, log, time.time())
            print(f"started {arm} (pid {proc.pid})", flush=True)
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running: continue
        arm, proc, log, t0 = running.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.close()
        if proc.returncode != 0: raise SystemExit(f"{arm} failed (exit {proc.returncode}); see {runs / arm / 'train.log'}")
        peak[arm] = usage.ru_maxrss / 1024  # Linux: KiB
        print(f"finished {arm} in {(time.time() - t0) / 60:.1f} min, peak RSS {peak[arm]:.0f} MiB", flush=True)
    return peak


@torch.no_grad()
def analyse(run_dir: Path, corpus: Path) -> dict:
    "Phase 2: whole-split validation loss, train loss on as many fixed windows, k distribution, dead experts."
    from tiny_onn.data import prepare_data, evaluate, windows
    from tiny_onn.moe import moe_layers
    from transformers import AutoModelForCausalLM
    cfg = json.loads((run_dir / "config.json").read_text())
    data = prepare_data(cfg["data"], cfg["n_words"])
    model = AutoModelForCausalLM.from_pretrained(run_dir / "model").float().eval()
    block, layers = cfg["block_size"], moe_layers(model)
    ks, rates, used = [], [], [torch.zeros(m.gate.n_experts, dtype=torch.bool) for m in layers]
    def record(j):  # k of every validation token, and which experts ever fire, read during the evaluation pass
        def hook(m, inputs, output):
            ks.append(m.routing.k.float()); rates.append(m.routing.activation_rate.item()); used[j].__ior__(m.routing.mask.any(0))
        return hook
    hooks = [m.register_forward_hook(record(j)) for j, m in enumerate(layers)]
    val = evaluate(model, data["val"], block)
    for h in hooks: h.remove()
    n_windows = (len(data["val"]) - 1) // block
    rng = np.random.default_rng(0)  # the same training windows for every arm
    train_starts = torch.from_numpy(rng.choice(len(data["train"]) - block - 1, n_windows, replace=False))
    nats, count = 0.0, 0
    for i in range(0, n_windows, 64):
        idx = windows(train_starts[i:i + 64], block)
        logits = model(input_ids=data["train"][idx[:, :-1]]).logits
        nats += torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), data["train"][idx[:, 1:]].flatten(), reduction="sum").item()
        count += idx[:, 1:].numel()
    out = dict(val_loss=val["loss"], val_chars=val["chars"], train_loss=nats / count)
    if layers:
        k = torch.cat(ks)
        out.update(mean_k=k.mean().item(), k_p10=k.quantile(0.1).item(), k_p50=k.quantile(0.5).item(), k_p90=k.quantile(0.9).item(),
                   dead_experts_pct=100 * (1 - torch.cat(used).float().mean().item()), n_experts=layers[0].gate.n_experts,
                   active_fraction=float(np.mean(rates)))  # of (token, expert/head/neuron) pairs, mean over layers and batches
    summary = json.loads((run_dir / "summary.json").read_text())
    out["best_estimated_val_loss"] = summary["best_estimated_val_loss"]
    out["train_minutes"] = summary["elapsed_s"] / 60
    return out


def throughput(arms: list, runs: Path, corpus: Path, rounds: int, steps_per_round: int) -> dict:
    "Phase 3: tokens/s of a full training step per arm (the trained model, so routing is as trained), round-robin."
    torch.set_num_threads(1)  # one thread, as in training: a busy second core then disturbs every arm alike
    from tiny_onn.train import load_config, build_optimizers, STEPS as STEP_FNS
    from tiny_onn.moe import surprise_schedule
    from tiny_onn.data import prepare_data, windows
    from transformers import AutoModelForCausalLM
    from collections import deque
    setups = {}
    for arm in arms:
        cfg = load_config(runs / arm / "config.json")
        data = prepare_data(cfg.data, cfg.n_words)
        model = AutoModelForCausalLM.from_pretrained(runs / arm / "model").float().train()
        g = torch.Generator().manual_seed(0)
        starts = torch.randint(0, len(data["train"]) - cfg.block_size - 1, (cfg.batch_size,), generator=g)
        idx = windows(starts, cfg.block_size)
        setups[arm] = (cfg, model, build_optimizers(model, cfg), data["train"][idx[:, :-1]], data["train"][idx[:, 1:]])
    times, step = {arm: [] for arm in arms}, 0
    for r in range(rounds + 1):
        for arm in arms:
            cfg, model, opts, x, y = setups[arm]
            t = time.perf_counter()
            for i in range(steps_per_round):
                surprise_schedule(model, step + i)  # an arm that scans every N-th step does so here too
                STEP_FNS[cfg.paradigm](model, opts, x, y, None, cfg, deque(maxlen=1))
            if r: times[arm].append((time.perf_counter() - t) / steps_per_round)  # round 0 warms up
        step += steps_per_round
    n_tok = {arm: setups[arm][0].batch_size * setups[arm][0].block_size for arm in arms}
    return {arm: dict(tokens_per_s=n_tok[arm] / float(np.median(times[arm])), step_ms=1000 * float(np.median(times[arm]))) for arm in arms}


def generation(arms: list, runs: Path, corpus: Path, rounds: int, new_tokens: int = 200, batches=(1, 16)) -> dict:
    "Phase 4: tokens/s of greedy generation with the KV cache, `new_tokens` per sequence, per batch size, round-robin."
    torch.set_num_threads(1)
    from tiny_onn.data import prepare_data
    from transformers import AutoModelForCausalLM
    prompts = {}
    models = {}
    for arm in arms:
        cfg = json.loads((runs / arm / "config.json").read_text())
        # RoPE has no learned positions: the trained weights run unchanged at a longer context, and timing is all we ask
        models[arm] = AutoModelForCausalLM.from_pretrained(runs / arm / "model", max_position_embeddings=256).float().eval()
        if not prompts:
            val = prepare_data(cfg["data"], cfg["n_words"])["val"]
            prompts = {b: torch.stack([val[i * 97:i * 97 + 16] for i in range(b)]) for b in batches}  # 16-token prompts
    times = {(arm, b): [] for arm in arms for b in batches}
    for r in range(rounds + 1):
        for arm in arms:
            for b in batches:
                t = time.perf_counter()
                with torch.no_grad():
                    out = models[arm].generate(prompts[b], max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
                if r: times[arm, b].append(time.perf_counter() - t)  # round 0 warms up
                assert out.shape == (b, 16 + new_tokens)
    return {arm: {f"gen_tokens_per_s_b{b}": b * new_tokens / float(np.median(times[arm, b])) for b in batches} for arm in arms}


def table(results: dict, meta: dict) -> str:
    dense = results.get("dense", {})
    lines = [f"Tiny Shakespeare, nanoGPT baby-GPT budget ({meta['steps']} steps). {meta['date']}, {meta['machine']}, "
             f"torch {meta['torch']}. Command: `{meta['command']}`.", "",
             "| arm | best val loss (est.) | val loss (whole split) | train - val gap | train tokens/s | x dense | generate tokens/s, batch 1 / 16 | x dense | mean k | k p10/p50/p90 | dead experts | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm, r in results.items():
        k = f"{r['mean_k']:.2f} of {r['n_experts']}" if "mean_k" in r else "–"
        kq = f"{r['k_p10']:.0f}/{r['k_p50']:.0f}/{r['k_p90']:.0f}" if "mean_k" in r else "–"
        dead = f"{r['dead_experts_pct']:.1f}%" if "mean_k" in r else "–"
        ratio = r["tokens_per_s"] / dense["tokens_per_s"] if dense else float("nan")
        gen = lambda b: r.get(f"gen_tokens_per_s_b{b}", float("nan"))
        gen_ratio = lambda b: gen(b) / dense.get(f"gen_tokens_per_s_b{b}", float("nan")) if dense else float("nan")
        lines.append(f"| {ARMS[arm][0]} | {r['best_estimated_val_loss']:.4f} | {r['val_loss']:.4f} | {r['train_loss'] - r['val_loss']:+.4f} | "
                     f"{r['tokens_per_s']:.0f} | {ratio:.2f} | {gen(1):.0f} / {gen(16):.0f} | {gen_ratio(1):.2f} / {gen_ratio(16):.2f} | "
                     f"{k} | {kq} | {dead} | {r['peak_rss_mib']:.0f} MiB |")
    return "\n".join(lines) + "\n"


def main():
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, required=True, help="Tiny Shakespeare's input.txt (read by path, never copied; its SHA-256 is checked)")
    p.add_argument("--out", type=Path, default=Path("bench/results"), help="where the record, the table and the run logs go")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--steps", type=int, default=STEPS, help="training steps per arm (nanoGPT's baby GPT: 2000)")
    p.add_argument("--jobs", type=int, default=2, help="arms trained at once (one torch thread each)")
    p.add_argument("--rounds", type=int, default=20, help="round-robin throughput rounds")
    p.add_argument("--gen-rounds", type=int, default=5, help="round-robin generation rounds (200 new tokens, batch 1 and 16)")
    p.add_argument("--skip-training", action="store_true", help="reuse the run directories of an earlier invocation")
    p.add_argument("--record", default="lm", help="result files are OUT/RECORD_DATE.json and .md")
    a = p.parse_args()
    check_corpus(a.corpus)
    date = time.strftime("%Y-%m-%d")
    runs = a.out / f"lm_runs_{date}"
    meta = dict(date=date, steps=a.steps, machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
                torch=torch.__version__, command="python " + " ".join(sys.argv), jobs=a.jobs)
    peak_file = runs / "peak_rss.json"
    peak = json.loads(peak_file.read_text()) if peak_file.exists() else {}
    done = lambda arm: (runs / arm / "summary.json").exists() and (runs / arm / "model").is_dir()
    todo = [] if a.skip_training else [arm for arm in a.arms if not done(arm)]
    if todo:
        new = run_training(todo, a.corpus, runs, a.steps, a.jobs)
        peak = {**(json.loads(peak_file.read_text()) if peak_file.exists() else {}), **new}  # another invocation may have written meanwhile
        peak_file.write_text(json.dumps(peak))
    results = {}
    for arm in a.arms:
        results[arm] = analyse(runs / arm, a.corpus)
        results[arm]["peak_rss_mib"] = peak[arm]
        print(arm, json.dumps(results[arm]), flush=True)
    for arm, t in throughput(a.arms, runs, a.corpus, a.rounds, 10).items(): results[arm].update(t)  # 10: a scan period
    for arm, t in generation(a.arms, runs, a.corpus, a.gen_rounds).items(): results[arm].update(t)
    record = dict(meta=meta, results=results)
    (a.out / f"{a.record}_{date}.json").write_text(json.dumps(record, indent=1))
    (a.out / f"{a.record}_{date}.md").write_text(table(results, meta))
    print(table(results, meta))


if __name__ == "__main__":
    main()
