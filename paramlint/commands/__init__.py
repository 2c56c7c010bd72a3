"""The subcommands beside lint: ``fit``, ``diff`` and ``rules``."""
