"""`python -m textbank.cli` runs the textbank command."""

from textbank.cli import main

main()
