__version__ = "0.1.0"

import os
# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning threads made runs 10-100x slower.
# Only takes effect when tiny_onn is imported before torch (as the `tiny-onn` command does).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import model as _model  # registers TinyOnnConfig / TinyOnnForCausalLM / TinyOnnTokenizer with the Auto classes
