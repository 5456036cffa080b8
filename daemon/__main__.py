"""`python -m daemon` runs mooraged."""

import sys

from .main import main

sys.exit(main())
