"""`python -m mooraged` runs the daemon."""

import sys

from .main import main

sys.exit(main())
