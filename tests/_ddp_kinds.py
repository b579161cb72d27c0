"Train every kind of tests/test_distributed.py once, in this process (as one torchrun rank, or alone): python _ddp_kinds.py CORPUS OUT"
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_distributed import KINDS, _train_args  # noqa: E402
from tiny_onn.cli import main  # noqa: E402

corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
for i, kind in enumerate(KINDS):
    main(_train_args(corpus, out / f"kind{i}", kind))
