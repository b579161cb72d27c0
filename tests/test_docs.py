"""The docs site (`docs/build.py`): every notebook gets a page with its title, math, tables and stored plots; the
landing page is the README; no page loads anything from the network; every local link resolves; and in a headless
browser (Debian's `chromium`; skipped where it is absent) every formula is typeset and every image loads."""
import base64, html, json, re, shutil, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

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


class Tags(HTMLParser):
    "Every start tag of a page as (tag, attrs), and every id/name it defines (link targets)."
    def __init__(self, text: str):
        super().__init__(); self.tags, self.ids = [], set(); self.feed(text)
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs); self.tags.append((tag, attrs))
        self.ids.update(v for k, v in attrs.items() if k in ("id", "name") and v)


def article_hrefs(text: str) -> list[str]:
    "Link targets in the page's content (not the navigation, which links every page anyway)."
    return [a.get("href") for tag, a in Tags(re.search(r"<article.*?</article>", text, re.S)[0]).tags if tag == "a"]


def is_url(ref: str) -> bool: return bool(re.match(r"[a-z][a-z0-9+.-]*:|//", ref, re.I))


def site_pages(site: Path) -> list[Path]:
    "The HTML pages (not the theme's Jinja macro files that Sphinx copies into _static/)."
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


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
    assert '<script defer="defer" src="_static/mathjax/tex-chtml.js">' in (site / "surprise.html").read_text()
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


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


README = ROOT / "README.md"


def test_landing_page_is_the_readme(site):
    "index.html is README.md: its headings and table, notebook links pointing at the built pages, no link to files."
    readme, index = README.read_text(), (site / "index.html").read_text()
    h1 = re.search(r"^# (.+)$", readme, re.M)[1]
    assert re.search(r"<h1>%s" % re.escape(html.escape(h1)), index), "README's title is not the page title"
    for heading in re.findall(r"^## (.+)$", readme, re.M):
        assert words(heading) in words(re.sub(r"<[^>]+>", " ", index)), f"README section {heading!r} missing"
    notebook_links = re.findall(r"\]\((nbs/[^)#]+\.ipynb)\)", readme)
    assert notebook_links, "README links no notebook: this test checks nothing"
    hrefs = set(article_hrefs(index))
    for target in notebook_links:
        built = page(site, ROOT / target, NBS).relative_to(site).as_posix()
        assert built in hrefs, f"README's link to {target} is not a link to {built}"
    assert not [h for h in hrefs if h and not is_url(h) and re.search(r"\.(md|ipynb|py)(#|$)", h)], hrefs
    if "[DEVELOPERS.md](DEVELOPERS.md)" in readme: assert "DEVELOPERS.md" in index  # kept as words


def test_nothing_loaded_from_the_network(site):
    "Scripts, styles, fonts and images come from the site itself (MathJax included); no placeholder repository link."
    pages = site_pages(site)
    assert len(pages) > len(notebooks(NBS))
    for p in pages:
        text = p.read_text()
        for tag, a in Tags(text).tags:
            ref = a.get("src") if tag in ("script", "img", "iframe", "source") else a.get("href") if tag == "link" else None
            assert not (ref and is_url(ref)), f"{p.name}: <{tag}> loads {ref}"
        assert "github.com/tiny-onn" not in text, f"{p.name} links the placeholder repository"
    for css in site.rglob("*.css"):
        assert not re.search(r"(url\(|@import)\s*['\"]?(https?:)?//", css.read_text()), f"{css.name} fetches from the network"


def test_every_local_link_resolves(site):
    "Every local href/src in every page names an existing file, and its #anchor (if any) exists on that page."
    ids, broken, checked = {}, [], 0
    def anchors(f: Path) -> set:
        if f not in ids: ids[f] = Tags(f.read_text()).ids
        return ids[f]
    for p in site_pages(site):
        for tag, a in Tags(p.read_text()).tags:
            for ref in (a.get("href"), a.get("src")):
                if not ref or is_url(ref) or ref == "#": continue
                parts = urlsplit(ref)
                target = (p.parent / unquote(parts.path)).resolve() if parts.path else p
                checked += 1
                if not target.is_file(): broken.append(f"{p.name}: {ref} (no file)")
                elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in anchors(target):
                    broken.append(f"{p.name}: {ref} (no anchor)")
    assert checked > 100 and not broken, f"{len(broken)} broken link(s):\n" + "\n".join(broken[:30])


def test_readme_links_rewritten(tmp_path):
    "Notebook links -> pages, files the site lacks -> plain text, images copied; code, URLs and anchors untouched."
    nbs = tmp_path / "nbs"
    _nb(nbs / "01_alpha.ipynb", md("# Alpha"))
    _nb(nbs / "sub" / "02_beta.ipynb", md("# Beta"))
    (tmp_path / "pic.png").write_bytes(base64.b64decode(PNG))
    (tmp_path / "README.md").write_text(
        "# Proj\n\n## Use\n\n| nb | what |\n|---|---|\n| [alpha](nbs/01_alpha.ipynb) | first |\n"
        "| [beta **two**](./nbs/sub/02_beta.ipynb) | second |\n\n"
        "See [the notes](DEVELOPERS.md), [code](tiny/x.py), [web](https://example.org/a.ipynb) and [use](#use).\n\n"
        "![a plot](pic.png) ![gone](missing.png)\n\nLiteral: `[alpha](nbs/01_alpha.ipynb)`\n\n"
        "```\n[beta](nbs/sub/02_beta.ipynb)\n```\n")
    r = build(tmp_path / "html", "--nbs", str(nbs), "--readme", str(tmp_path / "README.md"))
    assert r.returncode == 0, r.stderr
    index = (tmp_path / "html" / "index.html").read_text()
    hrefs = article_hrefs(index)
    assert "<h1>Proj" in index and "<table" in index
    assert "alpha.html" in hrefs and "sub/beta.html" in hrefs and "https://example.org/a.ipynb" in hrefs
    assert "#use" in hrefs and "the notes" in index and "code" in index
    assert not [h for h in hrefs if h and ("DEVELOPERS" in h or h.endswith(".py") or "nbs/" in h)], hrefs
    text = html.unescape(re.sub(r"<[^>]+>", "", index))
    assert "[alpha](nbs/01_alpha.ipynb)" in text and "[beta](nbs/sub/02_beta.ipynb)" in text
    imgs = [a["src"] for tag, a in Tags(index).tags if tag == "img"]
    assert len(imgs) == 1 and (tmp_path / "html" / imgs[0]).read_bytes() == base64.b64decode(PNG)
    assert "gone" in index and "missing.png" not in index
    r = build(tmp_path / "html", "--nbs", str(nbs), "--readme", str(tmp_path / "NOPE.md"))
    assert r.returncode != 0 and "NOPE.md does not exist" in r.stderr and "Traceback" not in r.stderr


PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==")

# The browser check. A probe copy of each page (same folder, so relative URLs resolve) waits for MathJax's first
# typeset, then writes what it sees into the DOM, which `--dump-dom` prints. Host resolution is disabled, so a page
# that needed the network would fail here even on a machine that has one.
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
PROBE = r"""<script>
window.addEventListener("load", () => {
  const report = (extra) => {
    const skip = "pre, code, script, style, mjx-container, textarea";
    const raw = [], walk = document.createTreeWalker(document.querySelector("article") || document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode())
      if (!n.parentElement.closest(skip) && /\\\(|\\\[|\$\$|\$[^\d\s$][^$]*\$/.test(n.data)) raw.push(n.data.trim().slice(0, 80));
    const math = [...document.querySelectorAll("article .math")];
    const out = document.createElement("pre");
    out.id = "docs-probe";
    out.textContent = JSON.stringify(Object.assign({
      math: math.length,
      typeset: math.filter(e => e.querySelector("mjx-container")).length,
      errors: document.querySelectorAll("mjx-merror, [data-mjx-error]").length,
      raw: raw,
      images: document.images.length,
      broken: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src")),
    }, extra));
    document.body.appendChild(out);
  };
  const mj = window.MathJax && window.MathJax.startup;
  if (!document.querySelector(".math")) report({});
  else if (!mj) report({failed: "MathJax did not load"});
  else mj.promise.then(() => report({}), e => report({failed: String(e)}));
});
</script>"""


def browser_report(html_file: Path, tmp: Path) -> dict:
    "Open a probe copy of the page in headless Chromium; return what the probe saw."
    probe = html_file.with_name(f"_probe_{html_file.name}")
    probe.write_text(html_file.read_text().replace("</body>", PROBE + "</body>", 1))
    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp / html_file.stem}",
               "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    m = re.search(r'<pre id="docs-probe"[^>]*>(.*?)</pre>', r.stdout, re.S)
    assert m, f"{html_file.name}: the probe did not report (chromium exit {r.returncode}): {r.stderr[-2000:]}"
    return json.loads(html.unescape(m[1]))


def test_site_in_a_browser(site, tmp_path):
    "Every notebook page and the landing page: all formulas typeset by the bundled MathJax, no raw TeX, images load."
    if CHROMIUM is None:
        pytest.skip("chromium not found (/usr/bin/chromium): `apt-get install -y chromium` to check the site in a browser")
    pages = [site / "index.html"] + [page(site, nb, NBS) for nb in notebooks(NBS)]
    missing = [p.name for p in pages if not p.is_file()]
    assert not missing, f"pages missing: {missing}"
    with ThreadPoolExecutor(2) as pool:
        reports = dict(zip(pages, pool.map(lambda p: browser_report(p, tmp_path), pages)))
    for p, r in reports.items():
        assert not r.get("failed"), f"{p.name}: {r['failed']}"
        assert r["typeset"] == r["math"] and not r["errors"], f"{p.name}: {r['typeset']} of {r['math']} formulas typeset, {r['errors']} errors"
        assert not r["raw"], f"{p.name}: TeX left as text: {r['raw'][:5]}"
        assert not r["broken"], f"{p.name}: images that did not load: {r['broken']}"
    assert sum(r["math"] for r in reports.values()) > 100, "hardly any math typeset: is this check still looking?"
    assert sum(r["images"] for r in reports.values()) > 10, "hardly any images: is this check still looking?"


PROGRESS = re.compile(r"\d+%\|[^|\n]*\||\d+(\.\d+)?(it/s|s/it)\]")  # tqdm's frames: ` 40%|####      | 4/10 [.., 2.1it/s]`


def progress_bars(nb: dict) -> list[str]:
    "Cells whose stored outputs hold progress-bar frames (stderr or stdout), as 'cell N: first frame'."
    hits = []
    for i, c in enumerate(nb["cells"]):
        for o in c.get("outputs", []):
            text = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
            if m := PROGRESS.search(text):
                hits.append(f"cell {i}: {text[max(0, m.start() - 40):m.end()].strip()!r}"); break
    return hits


def test_no_progress_bars_in_stored_outputs():
    "A page shows a notebook's stored outputs: progress-bar frames (tqdm, transformers' save/load bars) are noise."
    assert progress_bars({"cells": [{"outputs": [{"name": "stderr", "text": ["\r", "demo:  40%|####      | 4/10 [00:01<00:02, 2.96it/s]"]}]}]})
    found = {nb.name: hits for nb in notebooks(NBS) if (hits := progress_bars(json.loads(nb.read_text())))}
    assert not found, f"progress bars in stored outputs (disable them in the notebook, then re-run or drop the frames): {found}"
