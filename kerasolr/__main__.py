"""`python -m kerasolr ...` is the same as the `kerasolr` command."""

import sys

from kerasolr.cli import main

sys.exit(main())
