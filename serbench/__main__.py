"""``python -m serbench`` is the ``serbench`` command."""

from serbench.cli.main import main

main()
