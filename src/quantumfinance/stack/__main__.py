"""`python -m quantumfinance.stack up|down|status` (what `make stack-up`/`stack-down` call)."""

import sys

from quantumfinance.stack.cli import main

if __name__ == "__main__":
    sys.exit(main())
