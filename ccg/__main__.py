"""`python -m ccg ...` is the `ccg` command."""

import sys

from ccg._cli import main

sys.exit(main())
