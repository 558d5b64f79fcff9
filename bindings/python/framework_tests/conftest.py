"""Shared by the Flask, Django and gunicorn tests: a keyset in the
environment (the example apps read $SESAME_KEYSET) and the examples on
sys.path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
KEYSET = "sesame-keyset/1;key id=1 status=primary created=1700000000 raw=AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"

os.environ.setdefault("SESAME_KEYSET", KEYSET)
for sub in ("flask_app", "django_app"):
    path = str(EXAMPLES / sub)
    if path not in sys.path:
        sys.path.insert(0, path)
