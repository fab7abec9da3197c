"""``python -m esmonitor.cli``: the same as the ``esmonitor`` script."""

from esmonitor.cli import app

app()
