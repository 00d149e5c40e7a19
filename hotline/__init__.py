"""Core of the hotline platform: the site file, settings, state, database and command line."""

__version__ = "0.1.0"
