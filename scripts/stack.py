"""Kept for old commands and imports: the stack lives in `quantumfinance.stack`.

`python -m scripts.stack up|down|status` = `python -m quantumfinance.stack …`.
"""

import sys

from quantumfinance.stack import *  # noqa: F403 - re-export for `from scripts.stack import …`
from quantumfinance.stack.cli import main

if __name__ == "__main__":
    sys.exit(main())
