import sys

from fastmask.cli import main

sys.exit(main())
