"""``python -m an2dl`` runs the command line."""

import sys

from .cli.main import main

sys.exit(main())
