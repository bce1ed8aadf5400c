"""``python -m l3sim`` is the same as the ``l3sim`` console script."""

from l3sim.cli import main

main()
