"""``python -m paramlint.validation``: see :mod:`paramlint.validation.publish`."""
from .publish import main

raise SystemExit(main())
