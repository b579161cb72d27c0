"Train every kind of tests/test_distributed.py once, then the first half of a run to resume, in this process (as one torchrun rank, or alone): python _ddp_kinds.py CORPUS OUT [TRAIN FLAGS]"
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_distributed import KINDS, RESUMED, _train_args, _half_args  # noqa: E402
from tiny_onn.cli import main  # noqa: E402

corpus, out, flags = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
for i, kind in enumerate(KINDS):
    main(_train_args(corpus, out / f"kind{i}", kind) + flags)
main(_half_args(corpus, out / "first-half", 4) + flags)  # continued in a fresh launch by the resume tests
