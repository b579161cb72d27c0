"""Qwen3 surgery and routers for a converted model, on Tiny Shakespeare.

A dense Tiny-ONN with Qwen3's layout (trained here with nanoGPT's baby-GPT budget unless --dense is given) goes out as a
Qwen3 directory and back cut into 32 experts per layer; the whole validation split is scored at each step (surgery must
not move it). Then, with the experts frozen, routers are trained and scored at 1/8, 1/4, 1/2 and all experts active:
classifiers of labels from the scan (SPS, first-order utility) and of MoEfication's labels (activation norm), the same
router trained by the main loss, random routing and the oracle (true contribution norms); 3 seeds per trained arm.
Each seed scans its own training windows. Last, the experts are trained again at 1/4 active behind each seed's SPS router, under SMK and without it.

    python bench/bench_scan_router.py --corpus path/to/tinyshakespeare.txt --out bench/results

writes scan_router_<date>.json / .md / .png into --out (the run's models go to --work, not committed).
"""
import argparse, datetime, json, platform, subprocess, sys, time
from pathlib import Path

import torch

DENSE_MODEL = dict(ffn="dense", intermediate_size=384, router_loss="none", qk_norm=True)  # baby GPT with Qwen3's q/k norms
LABELS = ("sps", "utility", "moefication")
ARMS = ("scan_sps", "scan_utility", "moefication", "main_loss", "random", "oracle")


def git_commit() -> str:
    r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    return r.stdout.strip() + ("-dirty" if dirty else "")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, required=True, help="Tiny Shakespeare (any UTF-8 text file works)")
    p.add_argument("--out", type=Path, default=Path("bench/results"), help="where the record goes")
    p.add_argument("--work", type=Path, default=Path("runs/scan_router"), help="models and run directories (not committed)")
    p.add_argument("--dense", type=Path, default=None, help="a trained dense model directory; default: train one into --work")
    p.add_argument("--experts", type=int, default=32, help="experts per MLP")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the trained routers")
    p.add_argument("--scan-windows", type=int, default=1024, help="training windows scanned for labels and layer inputs")
    p.add_argument("--router-steps", type=int, default=300, help="main-loss router steps")
    p.add_argument("--finetune-steps", type=int, default=500, help="expert training steps at 1/4 active")
    p.add_argument("--date", default=datetime.date.today().isoformat())
    args = p.parse_args()
    torch.set_num_threads(2)

    import transformers
    transformers.utils.logging.disable_progress_bar()
    from tiny_onn.data import load_model, read_text, split_text, encode, evaluate
    from tiny_onn.surgery import export_qwen3, convert_qwen3
    from tiny_onn.scan_router import (FRACTIONS, routing_data, top_k_labels, train_router_classifier, set_routers, train_router_by_loss,
                                      loss_curve, finetune_experts, unit_moe_layers)
    t0 = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    record = dict(date=args.date, machine=f"{platform.machine()}, {torch.get_num_threads()} threads, {platform.system()}",
                  torch=torch.__version__, transformers=transformers.__version__, commit=git_commit(),
                  command=" ".join([Path(sys.executable).name, *sys.argv]), experts=args.experts, seeds=args.seeds)

    # 1. the dense model
    dense_dir = args.dense
    if dense_dir is None:
        from tiny_onn.train import TrainConfig, train
        dense_dir = args.work / "dense" / "model"
        if not (dense_dir / "config.json").is_file():
            train(TrainConfig(data=str(args.corpus), out=str(args.work / "dense"), max_steps=2000, n_words=0, progress=False, model=DENSE_MODEL))
    text = read_text(args.corpus)
    _, tok = load_model(dense_dir)
    train_ids, val_ids = (encode(tok, t) for t in split_text(text))
    block = 64

    # 2. surgery: out to Qwen3 and back into experts; the whole validation split at each step
    for d in ("qwen3", "moe"):
        if (args.work / d).exists(): import shutil; shutil.rmtree(args.work / d)
    export_qwen3(dense_dir, args.work / "qwen3")
    convert_qwen3(args.work / "qwen3", args.work / "moe", args.experts)
    surgery = {}
    for name, d in (("dense", dense_dir), ("qwen3", args.work / "qwen3"), (f"{args.experts} experts", args.work / "moe")):
        surgery[name] = evaluate(load_model(d)[0], val_ids, block)["loss"]
    record["surgery"] = surgery
    print("surgery:", surgery, flush=True)

    # 3. the converted model, fully active; the scan of it gives layer inputs and per-expert scores
    model, _ = load_model(args.work / "moe")
    k = args.experts // 4  # the goal's point: a quarter of the experts active
    # 4. routers, frozen experts; each seed scans its own windows and trains its own routers
    curves = {arm: [] for arm in ARMS}
    fresh = [m.gate.router.weight.detach().clone() for m in unit_moe_layers(model)]
    record["scan"], sps_routers = [], {}
    for seed in args.seeds:
        t, data = time.time(), None  # the last seed's scan is freed first
        set_routers(model, fresh)  # the fully active model does not depend on them; kept equal for the record
        data = routing_data(model, train_ids, block, n_windows=args.scan_windows, seed=1000 + seed)
        record["scan"].append(dict(seed=1000 + seed, windows=args.scan_windows, tokens=int(data["x"][0].shape[0]), seconds=round(time.time() - t, 1)))
        print("scanned", record["scan"][-1], flush=True)
        for label in LABELS:
            weights = [train_router_classifier(x, top_k_labels(s, k), seed=seed)[0] for x, s in zip(data["x"], data["scores"][label])]
            set_routers(model, weights)
            arm = "moefication" if label == "moefication" else f"scan_{label}"
            curves[arm].append(loss_curve(model, val_ids, block))
            if label == "sps": sps_routers[seed] = weights
            print(seed, arm, curves[arm][-1], flush=True)
        set_routers(model, fresh)
        torch.manual_seed(seed)
        for m in unit_moe_layers(model): torch.nn.init.normal_(m.gate.router.weight, std=0.02)
        train_router_by_loss(model, train_ids, k, steps=args.router_steps, seed=seed)
        curves["main_loss"].append(loss_curve(model, val_ids, block))
        print(seed, "main_loss", curves["main_loss"][-1], flush=True)
        for by in ("random", "oracle"):
            if by == "oracle" and seed != args.seeds[0]: continue  # deterministic
            curves[by].append(loss_curve(model, val_ids, block, by=by, seed=seed))
            print(seed, by, curves[by][-1], flush=True)
    record["curves"] = {arm: [{str(f): v for f, v in c.items()} for c in cs] for arm, cs in curves.items()}

    # 5. the experts trained again at 1/4 active behind each seed's SPS router: SMK against every routed expert
    record["finetune"] = {}
    state = {n: p.detach().clone() for n, p in model.named_parameters()}
    for name, min_k in (("smk", k), ("all_routed", None)):
        runs = []
        for seed in args.seeds:
            with torch.no_grad():
                for n, p in model.named_parameters(): p.copy_(state[n])
            set_routers(model, sps_routers[seed])
            run = finetune_experts(model, train_ids, k, steps=args.finetune_steps, min_k=min_k, seed=seed)
            runs.append(dict(seed=seed, experts_updated=run["experts_updated"],
                             curve={str(f): v for f, v in loss_curve(model, val_ids, block).items()}))
            print("finetune", name, runs[-1], flush=True)
        record["finetune"][name] = dict(min_k=min_k, steps=args.finetune_steps, runs=runs)
    record["seconds"] = round(time.time() - t0)

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"scan_router_{args.date}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    stem.with_suffix(".md").write_text(summary_table(record) + "\n")
    plot(record, stem.with_suffix(".png"))
    print("wrote", stem.with_suffix(".json"))


def summary_table(r: dict) -> str:
    from tiny_onn.scan_router import record_table
    dense = r["surgery"]["dense"]
    return "\n".join([f"# Routers for a converted model ({r['date']}, {r['machine']}, torch {r['torch']}, commit {r['commit']})", "",
                      f"Command: `{r['command']}`", "",
                      "Surgery (whole validation split, nats/char): " + ", ".join(f"{k} {v:.10f}" for k, v in r["surgery"].items()), "",
                      record_table(r), "", f"dense original: {dense:.4f}; goal at 1/4 active: <= {dense + 0.05:.4f}"])


def plot(r: dict, path: Path):
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tiny_onn.scan_router import plot_record
    fig, ax = plt.subplots(figsize=(7, 4.2))
    plot_record(r, ax).set_title(f"Tiny Shakespeare, {r['experts']} experts per layer: routers on frozen experts (solid), experts trained again (dashed)", fontsize=8)
    fig.tight_layout(); fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
