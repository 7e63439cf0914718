"""A local AI virtual try-on server: see README.md."""

__version__ = "0.1.0"
