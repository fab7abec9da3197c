"""esmonitor: transparent monitoring and evaluation of public employment services."""

__version__ = "0.1.0"
