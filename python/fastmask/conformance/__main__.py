"""`python -m fastmask.conformance`: see `fastmask.conformance`."""

from fastmask.conformance import main

raise SystemExit(main())
