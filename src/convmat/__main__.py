"""``python -m convmat``: the same as the ``convmat`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
