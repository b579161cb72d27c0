"""Cost of the digital fMRI scan (`tiny_onn.scan.scan_batch`) against a plain forward + backward of the same batch.

Two models, both untrained (the cost does not depend on the weights; top-k routing fixes the work per token):
  dense   TinyOnnConfig defaults with ffn="dense", router_loss="none": hidden 128, 4 layers, 4 heads, SwiGLU 384 (baby GPT)
  moe     the same with ffn="topk", 32 experts x 64, 6 per token (the dense model's active width), router_loss="none"
  moe_blocks_only   the moe model scanned with experts=False (attention blocks only, no per-expert quantities)
Batch: 12 windows x 64 tokens of the corpus (random windows, fixed seed), tokenizer trained on the corpus as `tiny-onn
train` does (characters + 1024 words).

  plain   model in training mode, logits, summed next-token cross-entropy, loss.backward() (parameter gradients)
  scan    scan_batch(model, batch): one forward with hooks, one backward of the same summed loss to the hooked outputs
          (activation gradients only), A/G block norms, and every expert of every MoE layer densely at unit weight

Time: both sides in one process, interleaved (plain, scan, plain, scan, ...), one torch thread, so that load from other
jobs on the machine hits both alike; we quote medians and the median of the per-round ratios. Memory: a separate
process per side; its peak RSS during the passes (VmHWM, reset after building model and batch) and that peak's
increase over the RSS before the first pass.

  python bench/bench_scan.py --corpus path/to/tinyshakespeare.txt --out bench/results
  python bench/bench_scan.py --corpus any.txt --worker moe:scan      # one side alone, prints JSON (memory)
"""
import argparse, datetime, gc, json, os, platform, statistics, subprocess, sys, time
from pathlib import Path

MOE = dict(ffn="topk", router_loss="none", n_experts=32, expert_dim=64, num_experts_per_tok=6)
MODELS = dict(dense=(dict(ffn="dense", router_loss="none"), {}),  # name: (TinyOnnConfig overrides, scan_batch options)
              moe=(MOE, {}),
              moe_blocks_only=(MOE, dict(experts=False)))  # the MoE model's attention blocks alone, no per-expert quantities
KINDS = ("plain", "scan")


def setup(corpus: Path, model: str, batch=12, block=64, seed=0):
    "(model, (batch, block) token ids) for `model`, on one torch thread."
    import torch
    torch.set_num_threads(1)
    from tiny_onn.data import encode, read_text
    from tiny_onn.embeddings import TinyOnnTokenizer
    from tiny_onn.model import TinyOnnConfig, TinyOnnForCausalLM
    text = read_text(corpus)
    tok = TinyOnnTokenizer.train(text[: int(0.9 * len(text))], n_words=1024)
    ids = encode(tok, text)
    if len(ids) <= block: sys.exit(f"{corpus} has {len(ids)} tokens; the benchmark needs more than {block}")
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(ids) - block, (batch,), generator=g)
    x = ids[starts[:, None] + torch.arange(block)]  # (batch, block)
    torch.manual_seed(seed)
    m = TinyOnnForCausalLM(TinyOnnConfig.from_tokenizer(tok, **MODELS[model][0])).float()
    return m, x


def passes(model, x, options: dict):
    "{kind: function running one pass and returning its wall time}; `options` go to scan_batch."
    import torch, torch.nn.functional as F
    from tiny_onn.scan import scan_batch

    def plain() -> float:
        t0 = time.perf_counter()
        model.train()
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=x).logits  # (B, T, V)
        F.cross_entropy(logits[:, :-1].flatten(0, 1), x[:, 1:].flatten(), reduction="sum").backward()
        return time.perf_counter() - t0

    def scan() -> float:
        t0 = time.perf_counter()
        scan_batch(model, x, **options)
        return time.perf_counter() - t0
    return dict(plain=plain, scan=scan)


def status_mb(field: str) -> float:
    "A memory field of /proc/self/status (VmRSS: resident now; VmHWM: the peak since start or since `reset_peak`), MB."
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field + ":"))


def reset_peak():
    "Set the process's peak resident size (VmHWM) to its current size (Linux >= 4.0: clear_refs)."
    with open("/proc/self/clear_refs", "w") as f: f.write("5")


def worker(corpus: Path, model: str, kind: str, steps: int) -> dict:
    "One side alone in this process: its peak RSS over `steps` passes, above the RSS after building model and batch."
    m, x = setup(corpus, model)
    f = passes(m, x, MODELS[model][1])[kind]
    gc.collect()
    before = status_mb("VmRSS")
    reset_peak()  # the setup (reading and tokenizing the corpus) peaks far higher than a pass: measure the passes alone
    for _ in range(steps): f()
    peak = status_mb("VmHWM")
    return dict(model=model, kind=kind, rss_before_mb=before, peak_rss_mb=peak, increase_mb=peak - before)


def interleaved(corpus: Path, model: str, rounds: int, warmup: int) -> dict:
    "Plain and scan alternating in one process: medians, the median of per-round ratios, and a consistency check."
    import torch, torch.nn.functional as F
    from tiny_onn.scan import scan_batch
    m, x = setup(corpus, model)
    f = passes(m, x, MODELS[model][1])
    times = [{k: f[k]() for k in (KINDS if r % 2 else KINDS[::-1])} for r in range(warmup + rounds)][warmup:]  # alternate who goes first
    s = scan_batch(m, x)
    with torch.no_grad():
        logits = m.eval()(input_ids=x).logits
        plain_loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), x[:, 1:].flatten(), reduction="sum").item()
    return dict(plain_ms=[1e3 * t["plain"] for t in times], scan_ms=[1e3 * t["scan"] for t in times],
                median_plain_ms=1e3 * statistics.median(t["plain"] for t in times), median_scan_ms=1e3 * statistics.median(t["scan"] for t in times),
                ratio=statistics.median(t["scan"] / t["plain"] for t in times),
                scan_loss_minus_plain_loss=s.loss.sum().item() - plain_loss, tokens_scanned=s.n_tokens,
                parameters=sum(p.numel() for p in m.parameters()))


def report(rec: dict) -> str:
    lines = [f"Scan vs a plain forward + backward, batch {rec['batch']}. {rec['date']}, {rec['machine']}, torch {rec['torch']}, "
             f"commit {rec['commit']}. Command: `{rec['command']}`.", "",
             "| model | plain fwd+bwd, ms (median) | scan, ms (median) | scan / plain (median of per-round ratios) | range over rounds | "
             "peak RSS plain, MB | peak RSS scan, MB | peak increase plain, MB | peak increase scan, MB |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rec["models"].items():
        mem = {k: r["memory"][k] for k in KINDS}
        ratios = [s / p for s, p in zip(r["time"]["scan_ms"], r["time"]["plain_ms"])]
        lines.append(f"| {name} | {r['time']['median_plain_ms']:.1f} | {r['time']['median_scan_ms']:.1f} | {r['time']['ratio']:.2f} | "
                     f"{min(ratios):.2f}-{max(ratios):.2f} | "
                     f"{mem['plain']['peak_rss_mb']:.0f} | {mem['scan']['peak_rss_mb']:.0f} | {mem['plain']['increase_mb']:.1f} | {mem['scan']['increase_mb']:.1f} |")
    lines += ["", rec["note"], "", f"Load average (1 min) at the start and the end of the run: {rec['load'][0]:.2f}, {rec['load'][1]:.2f}."]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, help="a UTF-8 text file (read in place, never copied); required unless --report")
    ap.add_argument("--out", type=Path, default=Path("bench/results"), help="directory for scan_<date>.json and .md")
    ap.add_argument("--rounds", type=int, default=30, help="timed rounds (one plain and one scan pass each) per model")
    ap.add_argument("--warmup", type=int, default=5, help="untimed rounds first")
    ap.add_argument("--mem-steps", type=int, default=5, help="passes per memory worker")
    ap.add_argument("--mem-repeats", type=int, default=3, help="memory workers per (model, side); the median is quoted")
    ap.add_argument("--worker", help="MODEL:KIND, e.g. moe:scan: run one side alone and print JSON")
    ap.add_argument("--report", type=Path, help="print the table of an existing record (JSON) and exit")
    args = ap.parse_args()
    if args.report:
        print(report(json.loads(args.report.read_text())))
        return
    if args.corpus is None or not args.corpus.is_file(): sys.exit(f"corpus not found: {args.corpus} (give --corpus FILE)")
    if args.worker:
        model, kind = args.worker.split(":")
        print(json.dumps(worker(args.corpus, model, kind, args.mem_steps)))
        return
    import torch
    load_start, models = os.getloadavg()[0], {}
    for name in MODELS:
        print(f"{name}: {args.rounds} interleaved rounds ...", flush=True)
        t = interleaved(args.corpus, name, args.rounds, args.warmup)
        print(f"  plain {t['median_plain_ms']:.1f} ms, scan {t['median_scan_ms']:.1f} ms, ratio {t['ratio']:.2f}", flush=True)
        runs = {k: [] for k in KINDS}
        for _ in range(args.mem_repeats):
            for k in KINDS:
                out = subprocess.run([sys.executable, __file__, "--corpus", str(args.corpus), "--worker", f"{name}:{k}", "--mem-steps", str(args.mem_steps)],
                                     check=True, capture_output=True, text=True).stdout
                runs[k].append(json.loads(out.strip().splitlines()[-1]))
        memory = {k: {q: statistics.median(r[q] for r in runs[k]) for q in ("peak_rss_mb", "increase_mb")} | dict(runs=runs[k]) for k in KINDS}
        print(f"  peak RSS plain {memory['plain']['peak_rss_mb']:.0f} MB, scan {memory['scan']['peak_rss_mb']:.0f} MB", flush=True)
        models[name] = dict(config=MODELS[name][0], scan_options=MODELS[name][1], time=t, memory=memory)
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    dirty = bool(git("status", "--porcelain"))
    rec = dict(date=datetime.date.today().isoformat(), command=" ".join(["python"] + sys.argv),
               machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}", torch=torch.__version__,
               commit=git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else ""),
               corpus=str(args.corpus), batch="12 x 64 tokens", threads=1, rounds=args.rounds, warmup=args.warmup, models=models,
               load=[load_start, os.getloadavg()[0]],
               note="Times: plain and scan interleaved in one process (who goes first alternates), so load from other jobs on this "
                    "shared 2-core machine hits both sides alike; the ratio is the median over rounds of scan / plain within a round. "
                    "Memory: separate processes, one side each; the peak RSS (VmHWM) is reset after building model and batch, so it "
                    "covers the passes alone; it includes Python, torch, the model and the tokenized corpus (the same for both sides), "
                    "and the increase is that peak minus the RSS before the first pass.")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"scan_{rec['date']}.json"
    path.write_text(json.dumps(rec, indent=1))
    path.with_suffix(".md").write_text(report(rec) + "\n")
    print(report(rec))
    print(f"\nrecord: {path}")


if __name__ == "__main__":
    main()
