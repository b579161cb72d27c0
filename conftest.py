"""nbval glue for nbdev notebooks.

nbval does not know nbdev's directives, so cells marked `#| slow`, `#| notest`, `#| eval: false` and the
`nbdev_export()` cell would run under `pytest --nbval`. Skip them here, ignore `_scratch` notebooks, and do not
compare stderr (progress bars, warnings) — stdout, HTML and text results are still compared strictly.
"""
import os, re

# Notebook kernels inherit this. Their first import is torch, before `tiny_onn` could set it, and spinning OpenMP threads
# made a notebook 6x slower on a busy 2-core machine (163 s vs 27 s measured).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

collect_ignore_glob = ["nbs/_*", "nbs/**/_*", "_proc/*", "docs/_build/*"]

SKIP_DIRECTIVE = re.compile(r"^\s*#\|\s*(slow|notest|eval:\s*false)\s*$", re.M)
EXPORT_CALL = re.compile(r"nbdev_export\(\)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None: continue
        if SKIP_DIRECTIVE.search(cell.source) or EXPORT_CALL.search(cell.source):
            item.options["skip"] = True
        parent = item.parent
        if "stderr" not in parent.skip_compare: parent.skip_compare = parent.skip_compare + ("stderr",)
