import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os

from hypothesis import settings

# CI runs a fixed, reproducible set of examples; local runs explore new ones each time.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
