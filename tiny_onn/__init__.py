__version__ = "0.1.0"

import importlib, importlib.abc, importlib.util, os, sys
# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning threads made runs 10-100x slower.
# Only takes effect when tiny_onn is imported before torch (as the `tiny-onn` command does).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# After `import tiny_onn`, transformers' Auto classes load saved Tiny-ONN models: tiny_onn.model registers
# TinyOnnConfig / TinyOnnForCausalLM / TinyOnnTokenizer with them. It is imported on demand, not here: it imports
# torch (seconds), which `tiny-onn --help` and the CLI's argument parsing must not wait for. The first time
# transformers looks up the model type "tiny_onn" (AutoConfig / AutoModel* / AutoTokenizer.from_pretrained of a
# saved model all do), tiny_onn.model is imported and registers itself. Importing it inside transformers' own
# import chain instead would be circular, so the lookup is the trigger.
MODEL_TYPE = "tiny_onn"  # = TinyOnnConfig.model_type
_CONFIG_AUTO = "transformers.models.auto.configuration_auto"


class _RegistersOnLookup(dict):
    "The extra (registered) entries of transformers' CONFIG_MAPPING; asking it for 'tiny_onn' imports tiny_onn.model first."
    def _ensure(self, key):
        if key == MODEL_TYPE and key not in self.keys(): importlib.import_module("tiny_onn.model")  # registers into self
    def __contains__(self, key): self._ensure(key); return dict.__contains__(self, key)
    def __getitem__(self, key): self._ensure(key); return dict.__getitem__(self, key)
    def get(self, key, default=None): self._ensure(key); return dict.get(self, key, default)


def _hook_config_mapping(module):
    mapping = getattr(module, "CONFIG_MAPPING", None)
    extra = getattr(mapping, "_extra_content", None)
    if isinstance(extra, dict) and not isinstance(extra, _RegistersOnLookup):
        mapping._extra_content = _RegistersOnLookup(extra)


class _HookConfigAuto(importlib.abc.MetaPathFinder):
    "Finds nothing itself; when transformers' configuration_auto is imported, hooks its CONFIG_MAPPING right after."
    def find_spec(self, name, path=None, target=None):
        if name != _CONFIG_AUTO: return None
        sys.meta_path.remove(self)  # once; and find_spec below must not come back here
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None: return spec
        exec_module = spec.loader.exec_module
        def exec_and_hook(module):
            exec_module(module)
            _hook_config_mapping(module)
        spec.loader.exec_module = exec_and_hook
        return spec


if _CONFIG_AUTO in sys.modules: _hook_config_mapping(sys.modules[_CONFIG_AUTO])
else: sys.meta_path.insert(0, _HookConfigAuto())
