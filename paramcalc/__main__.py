"""python -m paramcalc."""

from .cli import main

main()
