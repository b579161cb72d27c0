__version__ = "0.1.0"

from . import model as _model  # registers TinyOnnConfig / TinyOnnForCausalLM / TinyOnnTokenizer with the Auto classes
