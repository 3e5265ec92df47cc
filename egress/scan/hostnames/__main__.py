"""`python -m egress.scan.hostnames build|status|clean`: the compiled scorer (native.py)."""

from __future__ import annotations

import sys

from egress.scan.hostnames.native import main

if __name__ == "__main__":  # imported as a module (the architecture tests do), it runs nothing
    sys.exit(main(sys.argv[1:]))
