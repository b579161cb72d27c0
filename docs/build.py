"""Build the tiny-onn docs site without Quarto: `python docs/build.py [--out DIR] [--readme FILE] [--strict]`.

1. Every notebook in `nbs/` whose path has no part starting with `_` or `.` goes through nbdev's own docs
   processing (`FilterDefaults`, the per-file step of `nbdev.serve.proc_nbs`): show_doc rendered, `#| hide`
   and export cells dropped, frontmatter extracted. Pages are named like nbdev's (`00_surprise` -> `surprise`).
2. A small adapter turns what Quarto would consume into what myst-nb understands: the YAML frontmatter becomes
   a `# title` and a description, `#| echo/output/include` become remove-* tags, other `#|` lines are
   stripped, `::: {.callout-X}` becomes a `:::{X}` admonition, and two pandoc-vs-GFM
   differences in math are bridged (`|` inside math in a pipe table; `$$..$$` spanning lines in a paragraph).
3. The landing page is `nbs/index.ipynb` if there is one, else README.md (`--readme`): links to notebooks are
   pointed at their pages and links to files the site does not have (DEVELOPERS.md, code) become plain text, so
   the site has no broken links. A hidden toctree lists every page; Sphinx + myst-nb + sphinx-book-theme render
   the *stored* outputs (`docs/conf.py`) into DIR. MathJax is bundled (`sphinx-mathjax-offline`): no page loads
   anything from the network.

Everything happens in a private temporary directory, so concurrent builds (e.g. the test) never share
`_proc/`. Exits non-zero on a notebook that cannot be processed and on any Sphinx ERROR;
`--strict` also fails on warnings.
"""
import argparse, contextlib, io, json, os, re, shutil, sys, tempfile, time, warnings
from pathlib import Path
from urllib.parse import unquote

import yaml

# jsonschema (via nbformat, via myst-nb) compiles ~40 lark grammars at import when the optional rfc3987-syntax is
# installed (jupyterlab pulls it in): ~5 s per build for an IRI format check nothing here uses. Skip it.
sys.modules.setdefault("rfc3987_syntax", None)
# nbdev's processor warns once per notebook that mixes imports and code in a cell: nothing the site needs to know.
warnings.filterwarnings("ignore", message="Found cells containing imports and other code")

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ASSETS = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
DIRECTIVE = re.compile(r"^\s*#\s*\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")
CALLOUT = re.compile(r"^(\s*:::+)\s*\{\s*\.callout-(\w+)[^}]*\}", re.M)
TABLE_ROW = re.compile(r"^[ \t]*\|.*$", re.M)
DISPLAY = re.compile(r"^[ \t]*\$\$(?:(?!\$\$).)+\$\$[ \t]*$", re.M | re.S)
HEADING = re.compile(r"^#+ +([\w.]+) *$", re.M)
CODE_SPAN = re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1[ \t]*$|(`+)(?:(?!\2).)+?\2", re.M | re.S)
MD_LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
TAGS = {("echo", "false"): "remove-input", ("output", "false"): "remove-output", ("include", "false"): "remove-cell",
        ("code-fold", "true"): "hide-input"}


def source_notebooks(nbs: Path) -> list[Path]:
    "The notebooks that make pages: no path part may start with `_` or `.` (scratch, checkpoints)."
    return sorted(p for p in nbs.rglob("*.ipynb") if not any(q[0] in "_." for q in p.relative_to(nbs).parts))


def page_name(rel: Path) -> Path:
    "nbdev's page name (`_nbpath2html` without the suffix): `00_surprise.ipynb` -> `surprise`."
    return rel.with_name(re.sub(r"^\d+[a-zA-Z0-9]*_", "", rel.name.lower())).with_suffix("")


def _src(cell) -> str: return "".join(cell.get("source") or "")


def _table_math(md: str) -> str:
    "Pandoc reads `$..|..$` in a pipe table as one math cell, GFM splits it: write the bars as \\Vert / \\vert."
    bars = lambda m: m[0].replace("\\|", "\\Vert ").replace("|", "\\vert ")
    return TABLE_ROW.sub(lambda row: re.sub(r"\$[^$]+\$", bars, row[0]), md)


def _display_math(md: str) -> str:
    "A `$$..$$` over several lines inside a paragraph is math to pandoc; GFM may read `  + x` in it as a list."
    return DISPLAY.sub(lambda m: f"\n{m[0]}\n" if "\n" in m[0] else m[0], md)


def _md_output(md: str) -> str:
    "show_doc markdown: its leading `---` as HTML (docutils rejects a transition there) and nbdev's anchors."
    md = re.sub(r"\A\s*---[ \t]*\n", "<hr>\n\n", md)
    def anchor(m):  # nbdev links `page.html#expert_mix`; docutils would only make `#expert-mix`
        nbdev_id = m[1].lower()
        same = nbdev_id == re.sub(r"[^a-z0-9]+", "-", nbdev_id).strip("-")
        return m[0] if same else f'<div id="{nbdev_id}"></div>\n\n{m[0]}'
    return HEADING.sub(anchor, md)


def adapt(nb: dict, fallback_title: str) -> dict:
    "Turn nbdev's Quarto-flavoured processed notebook into one myst-nb renders well."
    fm, cells = {}, []
    for cell in nb["cells"]:
        src = _src(cell)
        if cell["cell_type"] == "raw":
            if src.strip().startswith("---"): fm.update(yaml.safe_load(src.strip().strip("-")) or {})
            continue  # Quarto-only raw cells (frontmatter) have no HTML meaning
        if cell["cell_type"] == "markdown":
            cell["source"] = _display_math(_table_math(CALLOUT.sub(r"\1{\2}", src)))
        elif cell["cell_type"] == "code":
            lines, tags = src.splitlines(keepends=True), set(cell.get("metadata", {}).get("tags", []))
            while lines and (m := DIRECTIVE.match(lines[0])):
                if tag := TAGS.get((m[1], m[2].lower())): tags.add(tag)
                lines.pop(0)
            cell["source"] = "".join(lines)
            if tags: cell.setdefault("metadata", {})["tags"] = sorted(tags)
            for out in cell.get("outputs", []):
                if "text/markdown" in out.get("data", {}):
                    out["data"]["text/markdown"] = _md_output("".join(out["data"]["text/markdown"]))
            if not cell["source"].strip() and not cell.get("outputs"): continue
        cells.append(cell)
    first = next((_src(c) for c in cells if c["cell_type"] == "markdown" and _src(c).strip()), "")
    if fm.get("title") or not first.lstrip().startswith("# "):
        head = f"# {fm.get('title') or fallback_title}\n"
        if fm.get("description"): head += f"\n> {' '.join(str(fm['description']).split())}\n"
        cells.insert(0, {"cell_type": "markdown", "metadata": {}, "source": head})
    for i, cell in enumerate(cells): cell.setdefault("id", f"cell-{i}")
    nb["cells"] = cells
    return nb


def process(nbs: Path, stage: Path) -> dict[str, Path]:
    "nbdev-process every notebook into `stage`; return {page name (posix, no suffix): source notebook}."
    from execnb.nbio import read_nb, write_nb
    from nbdev.processors import FilterDefaults
    pages = {}
    for src in source_notebooks(nbs):
        rel = src.relative_to(nbs)
        name = page_name(rel)
        if name in pages: sys.exit(f"docs: {rel} and {pages[name]} would both become {name}.html")
        pages[name] = src
        dst = stage / name.with_suffix(".ipynb")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.environ["IN_TEST"] = "1"  # as nbdev.serve_drv does while processing
        try:
            nb = read_nb(src)
            FilterDefaults()(nb)
            write_nb(nb, dst)
            nb = adapt(json.loads(dst.read_text()), fallback_title=rel.stem)
            dst.write_text(json.dumps(nb))
        except Exception as e:
            raise SystemExit(f"docs: cannot process {src}: {type(e).__name__}: {e}") from e
        finally:
            os.environ.pop("IN_TEST", None)
    for f in nbs.rglob("*"):  # images referenced from markdown cells
        rel = f.relative_to(nbs)
        if f.suffix.lower() in ASSETS and not any(q[0] in "_." for q in rel.parts):
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, stage / rel)
    return {n.as_posix(): src for n, src in pages.items()}


def readme_page(readme: Path, pages: dict[str, Path], stage: Path) -> str:
    "README.md as markdown for the site: notebook links -> their pages; other local links -> plain text."
    by_source = {src.resolve(): name for name, src in pages.items()}
    def link(m):
        bang, text, target = m[1], m[2], m[3]
        if re.match(r"[a-z][a-z0-9+.-]*:|#", target, re.I): return m[0]  # a URL, or an anchor on this page
        path, _, anchor = target.partition("#")
        f = (readme.parent / unquote(path)).resolve()
        if f in by_source:  # myst resolves `page.ipynb` to the built page, and warns if it does not exist
            return f"{bang}[{text}]({by_source[f]}.ipynb{'#' * bool(anchor)}{anchor})"
        if bang and f.is_file() and f.suffix.lower() in ASSETS:
            (stage / "_readme").mkdir(exist_ok=True)
            shutil.copy2(f, stage / "_readme" / f.name)
            return f"![{text}](_readme/{f.name})"
        return text  # a file the site does not have: keep the words, drop the link
    text, out, pos = readme.read_text(encoding="utf-8"), [], 0
    for code in CODE_SPAN.finditer(text):  # never rewrite inside code
        out += [MD_LINK.sub(link, text[pos:code.start()]), code[0]]
        pos = code.end()
    return "".join(out + [MD_LINK.sub(link, text[pos:])])


def write_index(stage: Path, pages: dict[str, Path], readme: Path | None) -> None:
    "Root document: the processed `index` notebook, else the README, else a generated list; a toctree of the rest."
    from configparser import ConfigParser
    cfg = ConfigParser(); cfg.read(ROOT / "settings.ini"); s = cfg["DEFAULT"]
    others = [p for p in pages if p != "index"]
    toc = "```{toctree}\n:maxdepth: 1\n%s\n%s\n```\n"
    if "index" in pages:
        nb = json.loads((stage / "index.ipynb").read_text())
        nb["cells"].append({"cell_type": "markdown", "id": "toctree", "metadata": {},
                            "source": toc % (":hidden:", "\n".join(others))})
        (stage / "index.ipynb").write_text(json.dumps(nb))
    elif readme is not None and readme.is_file():
        text = readme_page(readme, pages, stage).rstrip() + "\n\n"
        (stage / "index.md").write_text(text + toc % (":hidden:\n:caption: Notebooks", "\n".join(others)))
    else:
        text = f"# {s.get('title', 'Documentation')}\n\n{s.get('description', '')}\n\n"
        (stage / "index.md").write_text(text + toc % (":caption: Notebooks", "\n".join(others)))


def sphinx(stage: Path, html: Path, pages: dict[str, Path], strict: bool) -> None:
    "Run Sphinx; print its messages against the source notebooks; exit non-zero on errors (or warnings if strict)."
    from sphinx.cmd.build import build_main
    args = ["-b", "html", "-c", str(DOCS), "-d", str(stage / ".doctrees"), "-q", "--keep-going"] + ["-W"] * strict
    with contextlib.redirect_stderr(io.StringIO()) as err:
        rc = build_main(args + [str(stage / "src"), str(html)])
    msgs = err.getvalue()
    for page, src in pages.items():  # myst-nb locations are <cell index>*10000 + line in the processed notebook
        msgs = msgs.replace(str(stage / "src" / page) + ".ipynb:", f"{src} (processed) cell/line ")
    print(msgs, file=sys.stderr, end="")
    if rc or re.search(r"\b(ERROR|CRITICAL|SEVERE)\b", msgs):
        sys.exit(f"docs: Sphinx failed (exit code {rc})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DOCS / "_build" / "html", help="HTML output directory")
    ap.add_argument("--nbs", type=Path, default=ROOT / "nbs", help="notebook folder (default: nbs/)")
    ap.add_argument("--readme", type=Path, help="landing page when the notebooks have no index.ipynb (default: README.md)")
    ap.add_argument("--strict", action="store_true", help="treat Sphinx warnings as errors")
    args = ap.parse_args(argv)
    out, nbs, readme = args.out.resolve(), args.nbs.resolve(), (args.readme or ROOT / "README.md").resolve()
    if args.readme and not readme.is_file(): sys.exit(f"docs: --readme {args.readme} does not exist")
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").exists():
        sys.exit(f"docs: {out} is not empty and is not a previous Sphinx build; refusing to replace it")
    t0 = time.perf_counter()
    os.chdir(ROOT)  # nbdev reads settings.ini from the working directory
    with tempfile.TemporaryDirectory(prefix="tiny-onn-docs-") as tmp:
        stage = Path(tmp)
        pages = process(nbs, stage / "src")
        if not pages: sys.exit(f"docs: no notebooks in {nbs}")
        write_index(stage / "src", pages, readme)
        sphinx(stage, stage / "html", pages, args.strict)
        if out.exists(): shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(stage / "html", out)
    print(f"docs: {len(pages)} notebook page(s) in {time.perf_counter() - t0:.1f}s -> {out / 'index.html'}")


if __name__ == "__main__":
    main()
