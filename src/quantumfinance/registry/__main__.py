"""`python -m quantumfinance.registry ...` (see quantumfinance.registry.cli)."""

import sys

from quantumfinance.registry.cli import main

sys.exit(main())
