"""Build one CA bundle from the OS trust store and certifi, and point pip at it."""

from __future__ import annotations

__version__ = "0.1.0"
