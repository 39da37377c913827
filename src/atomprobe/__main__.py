"""``python -m atomprobe <step>``: see :mod:`atomprobe.cli`."""

from atomprobe.cli import main

raise SystemExit(main())
