"""`python -m groundstation.cli` runs the `gridpatrol` command."""

from groundstation.cli import main

main()
