"""`python -m kvs ...`: the same as the `kvs` command."""

import sys

from kvs.cli import main

sys.exit(main())
