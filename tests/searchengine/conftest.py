"""Make the project's ``search`` package importable however pytest is started.

The editable install maps only the packages that existed when it ran; ``python -m pytest`` puts
the project root on the path anyway, the ``pytest`` script does not.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
