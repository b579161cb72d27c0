"Sphinx configuration for the tiny-onn site; `docs/build.py` runs Sphinx with this file on processed notebooks."
from configparser import ConfigParser
from pathlib import Path

_cfg = ConfigParser()
_cfg.read(Path(__file__).resolve().parent.parent / "settings.ini")
_s = _cfg["DEFAULT"]

project = _s.get("title", "tiny-onn")
author = _s.get("author", "")
copyright = _s.get("copyright", "")
release = version = _s.get("version", "")

# MathJax from the wheel of `sphinx-mathjax-offline`, copied into `_static/mathjax/`: formulas render without network
# (Sphinx's default loads MathJax from a CDN, and a page opened offline then shows raw TeX).
extensions = ["myst_nb", "sphinx-mathjax-offline"]
nb_execution_mode = "off"  # render the outputs stored in the notebooks; never run a kernel
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4  # stable #anchors for headings, including show_doc's `### name`
myst_dmath_double_inline = True  # pandoc (Quarto) reads `$$..$$` inside a paragraph as display math; so do we
exclude_patterns = ["**.ipynb_checkpoints", "_build", "jupyter_execute"]
suppress_warnings = ["myst.header"]  # show_doc emits `###` right after a page title; harmless

html_theme = "sphinx_book_theme"
html_title = project
html_copy_source = False  # the processed notebooks embed every PNG; don't ship them twice
html_last_updated_fmt = None
html_theme_options = {  # no repository button: the project has no public repository
    "use_download_button": False,
    "show_toc_level": 2,
}
