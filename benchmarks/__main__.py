"""`python -m benchmarks`: the whole suite, one table per family (see benchmarks/suite.py)."""

import sys

from benchmarks.suite import main

sys.exit(main())
