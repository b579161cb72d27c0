"The docs site (`docs/build.py`): every notebook gets a page with its title, math, tables and stored plots."
import base64, html, json, re, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / "nbs"
HIDDEN = re.compile(r"^\s*#\s*\|\s*(hide|export|exporti|include:\s*false|output:\s*false)\s*$", re.M)


def build(out: Path, *args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(out), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def notebooks(nbs: Path) -> list[Path]:
    return sorted(p for p in nbs.rglob("*.ipynb") if not any(q[0] in "_." for q in p.relative_to(nbs).parts))


def page(html_dir: Path, nb: Path, nbs: Path) -> Path:
    "nbdev's page naming: `00_surprise.ipynb` -> `surprise.html`."
    rel = nb.relative_to(nbs)
    return html_dir / rel.parent / (re.sub(r"^\d+[a-zA-Z0-9]*_", "", rel.stem.lower()) + ".html")


def src(cell) -> str: return "".join(cell.get("source") or "")


def title(nb: dict, stem: str) -> str:
    "nbdev's rule: a raw frontmatter `title:`, else the first markdown `# ` heading, else the notebook name."
    for c in nb["cells"]:
        m = re.search(r"^title:\s*['\"]?(.*?)['\"]?\s*$", src(c), re.M) if c["cell_type"] == "raw" else None
        m = m or (re.search(r"^#\s+(\S.*?)\s*$", src(c), re.M) if c["cell_type"] == "markdown" else None)
        if m: return m[1]
    return stem


def words(s: str) -> str: return " ".join(re.findall(r"[^\W_]+", html.unescape(s).lower()))


def unrendered_math(text: str) -> list[str]:
    "`$x` left in the prose once code, scripts and rendered math are cut out (a literal price `$5` is allowed)."
    body = re.search(r"<article.*?</article>", text, re.S)[0]
    body = re.sub(r'<(pre|code|script)\b.*?</\1>|<(span|div) class="math.*?</\2>', "", body, flags=re.S)
    return re.findall(r".{0,40}\$[^\d\s].{0,20}", body)


def shown_pngs(nb: dict) -> list[bytes]:
    return [base64.b64decode("".join(o["data"]["image/png"])) for c in nb["cells"] if c["cell_type"] == "code"
            and not HIDDEN.search(src(c)) for o in c.get("outputs", []) if "image/png" in o.get("data", {})]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "html"
    r = build(out)
    assert r.returncode == 0, f"docs build failed:\n{r.stdout}\n{r.stderr}"
    assert str(out / "index.html") in r.stdout
    return out


def test_page_per_notebook_with_title(site):
    nbs = notebooks(NBS)
    assert nbs, "no notebooks in nbs/"
    index = (site / "index.html").read_text()
    for nb_path in nbs:
        p = page(site, nb_path, NBS)
        assert p.exists(), f"{nb_path.name}: no page {p.name}"
        text = p.read_text()
        t = title(json.loads(nb_path.read_text()), nb_path.stem)
        h1 = re.search(r"<h1>(.*?)</h1>", text, re.S)
        assert h1 and words(t) in words(re.sub(r"<[^>]+>", " ", h1[1])), f"{p.name}: title {t!r} missing"
        assert p.name == "index.html" or f'href="{p.relative_to(site).as_posix()}"' in index
        assert '<span class="c1">#|' not in text, f"{p.name}: nbdev directives leaked into code cells"


def test_math_tables_and_plots_render(site):
    for nb_path in notebooks(NBS):
        nb, text = json.loads(nb_path.read_text()), page(site, nb_path, NBS).read_text()
        md = "\n".join(src(c) for c in nb["cells"] if c["cell_type"] == "markdown")
        if re.search(r"\$[^$\s][^$]*\$", md): assert 'class="math' in text, f"{nb_path.name}: no math"
        assert not unrendered_math(text), f"{nb_path.name}: math left as text: {unrendered_math(text)}"
        if re.search(r"^\s*\|?\s*:?-{3,}:?\s*\|", md, re.M): assert "<table" in text, f"{nb_path.name}: no table"
        pngs = shown_pngs(nb)
        srcs = re.findall(r'<img[^>]*src="([^"]+\.png)"', text)
        assert len(srcs) >= len(pngs), f"{nb_path.name}: {len(pngs)} plots stored, {len(srcs)} <img> in the page"
        files = [(page(site, nb_path, NBS).parent / s).resolve() for s in srcs]
        assert all(f.is_file() for f in files), f"{nb_path.name}: missing image files"
        built = {f.read_bytes() for f in files}
        assert all(png in built for png in pngs), f"{nb_path.name}: a stored plot is not in the page"
    assert "mathjax" in (site / "surprise.html").read_text().lower()


def _nb(path: Path, *cells):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python",
          "display_name": "Python 3"}}, "cells": [dict(c, id=f"c{i}", metadata={}) for i, c in enumerate(cells)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))


def md(s): return {"cell_type": "markdown", "source": s}
def code(s, n): return {"cell_type": "code", "execution_count": n, "outputs": [], "source": s}


def test_index_notebook_scratch_and_broken(tmp_path):
    "nbs/index.ipynb becomes the landing page; `_` notebooks are skipped; an unreadable notebook fails loudly."
    nbs = tmp_path / "nbs"
    _nb(nbs / "index.ipynb", md("# Landing\n\n> The front page"), md("::: {.callout-note}\nA note.\n:::"))
    pandoc_math = "| a | b |\n|---|---|\n| $\\|x\\| = |y|$ | ok |\n\nSo\n$$a = b\n  + c$$\nend."  # Quarto reads these
    _nb(nbs / "05_plain.ipynb", md("No title here, just $x^2$."), md(pandoc_math),
        code("#| echo: false\nhidden_marker = 1", 1), code("#| notest\n#| code-fold: true\nshown_marker = 2", 2))
    _nb(nbs / "_scratch.ipynb", md("# Scratch"))
    r = build(tmp_path / "html", "--nbs", str(nbs))
    assert r.returncode == 0, r.stderr
    index, plain = (tmp_path / "html" / "index.html").read_text(), (tmp_path / "html" / "plain.html").read_text()
    assert "Landing" in index and "The front page" in index and "admonition note" in index
    assert 'href="plain.html"' in index and "<h1>05_plain" in plain and "hidden_marker" not in plain
    assert "shown_marker" in plain and '<span class="c1">#|' not in plain
    assert plain.count("<td") == 2 and '<div class="math' in plain and not unrendered_math(plain)
    assert not (tmp_path / "html" / "scratch.html").exists()
    (nbs / "06_broken.ipynb").write_text('{"cells": [')
    r = build(tmp_path / "html", "--nbs", str(nbs))
    assert r.returncode != 0 and "06_broken.ipynb" in r.stderr
