"""Fault injection: a life killed with SIGKILL at random instants, many times in a row, ends bit for bit where an
uninterrupted life ends (weights, optimizer state and lifecycle log)."""
import multiprocessing as mp
import os, random, shutil, time
from pathlib import Path

import pytest

os.environ["SOURCE_DATE_EPOCH"] = "1796083200"  # log times are part of the bytes compared; children inherit this
KILLS = 50  # at least this many kills, each with work left to do
FILES, STEPS_PER_FILE = 20, 12  # ~4x the work 50 kills consume, so the life never finishes before them, on a slow or fast machine


def _child(root: str, inbox: str):
    import torch
    torch.set_num_threads(1)
    from tiny_onn.life import live
    live(root, inbox, steps_per_file=STEPS_PER_FILE, save_every=1, once=True, log=lambda *a: None)


def _start(ctx, root, inbox):
    p = ctx.Process(target=_child, args=(str(root), str(inbox)))
    p.start()
    return p


def _inside_a_save(root: Path) -> bool:
    "Whether a kill left the marks of an unfinished save: temporary files, or shards the manifest does not name."
    import json
    manifest = json.loads((root / "manifest.json").read_text())
    named = {e["file"] for kind in manifest["shards"].values() for e in kind.values()}
    files = {f"{d.name}/{p.name}" for d in (root / "weights", root / "train") for p in d.iterdir()}
    return bool(files - named) or any(root.glob(".*.tmp"))


@pytest.fixture(scope="module")
def ctx():
    c = mp.get_context("forkserver")
    c.set_forkserver_preload(["tiny_onn.life", "tiny_onn.lifelog", "tiny_onn.model", "tiny_onn.embeddings", "datasets"])  # children start in milliseconds
    return c


def test_kill_at_random_instants(tmp_path, ctx):
    import torch
    from tiny_onn.embeddings import TinyOnnTokenizer, default_corpus
    from tiny_onn.life import Life
    from tiny_onn.lifelog import LOG, read_log, verify_log, directory_weights_digest
    from tiny_onn.shards import ShardStore
    from tiny_onn.train import TrainConfig
    text = default_corpus()
    inbox = tmp_path / "inbox"; inbox.mkdir()
    for i in range(FILES): (inbox / f"{i:02d}.txt").write_text(text[i * 2000:(i + 1) * 2000])
    cfg = TrainConfig(batch_size=4, block_size=32, warmup_steps=3, n_words=0, progress=False, pi_plasticity=1.0,
                      model=dict(ffn="topk", router_loss="none", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 num_key_value_heads=2, n_experts=8, expert_dim=8, num_experts_per_tok=2))
    Life.birth(tmp_path / "born", cfg, TinyOnnTokenizer.train(text[:20000], n_words=0))
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    shutil.copytree(tmp_path / "born", ref); shutil.copytree(tmp_path / "born", crashed)

    t0 = time.perf_counter()
    p = _start(ctx, ref, inbox); p.join(120)
    assert p.exitcode == 0
    uninterrupted = time.perf_counter() - t0

    t0 = time.perf_counter()
    p = _start(ctx, ref, inbox); p.join(120)  # nothing left to learn: the cost of starting and opening the life
    startup = time.perf_counter() - t0

    rng = random.Random(0)
    kills, in_save, runs = 0, 0, 0
    while True:
        p = _start(ctx, crashed, inbox); runs += 1
        if kills < KILLS:
            time.sleep(rng.uniform(0.5 * startup, startup + 0.3))  # sometimes while opening, mostly while training
            if p.is_alive():
                p.kill(); p.join()
                kills += 1
                in_save += _inside_a_save(crashed)
                continue
        p.join(120)
        assert p.exitcode == 0, f"run {runs} ended with {p.exitcode}"
        break  # the life finished
    print(f"\n{kills} kills ({in_save} inside a save) over {runs} runs; uninterrupted run {uninterrupted:.1f} s, start-up {startup:.2f} s")
    assert kills >= KILLS and in_save >= 5

    assert (ref / LOG).read_bytes() == (crashed / LOG).read_bytes()
    a, b = Life.open(ref), Life.open(crashed)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    oa, ob = a.optimizers["main"].state_dict()["state"], b.optimizers["main"].state_dict()["state"]
    assert all(torch.equal(oa[i][f], ob[i][f]) for i in oa for f in oa[i])
    assert [r["kind"] for r in read_log(crashed)] == ["birth"] + ["experience"] * FILES
    verify_log(crashed, directory_weights_digest(crashed))
    assert ShardStore(crashed).manifest == ShardStore(ref).manifest


def test_live_command_stops_on_sigterm(tmp_path):
    "`tiny-onn live` as a user runs it: born from --config, learns what is dropped into the inbox, idles, and stops cleanly on SIGTERM."
    import json, signal, subprocess, sys
    from tiny_onn.embeddings import default_corpus
    from tiny_onn.lifelog import read_log, verify_log, directory_weights_digest
    inbox, life = tmp_path / "inbox", tmp_path / "life"
    inbox.mkdir()
    (tmp_path / "cfg.json").write_text(json.dumps(dict(batch_size=4, block_size=32, n_words=0, model=dict(
        ffn="topk", router_loss="none", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        n_experts=4, expert_dim=8, num_experts_per_tok=2))))
    (inbox / "a.txt").write_text(default_corpus()[:3000])
    cmd = [sys.executable, "-c", "import sys; from tiny_onn.cli import main; sys.exit(main())", "live", str(life), "--inbox", str(inbox),
           "--config", str(tmp_path / "cfg.json"), "--steps-per-file", "5", "--poll", "0.1"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(read_log(life) if (life / "lifecycle.jsonl").exists() else []) < 2: time.sleep(0.1)
        time.sleep(0.5)  # idle now: nothing new in the inbox
        assert p.poll() is None, p.communicate()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode == 0, err
    assert "1 experience(s) learned" in out
    assert [r["kind"] for r in read_log(life)] == ["birth", "experience"]
    verify_log(life, directory_weights_digest(life))
