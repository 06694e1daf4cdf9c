"""`python -m workflow` is the same as the `segments` console script."""

from workflow.cli import main

main()
