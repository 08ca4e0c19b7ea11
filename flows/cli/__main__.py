"""`python -m flows.cli`: the `echelon` command without its console script."""

from flows.cli import main

main()
