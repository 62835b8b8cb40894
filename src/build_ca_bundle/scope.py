"""Where a run's changes land: one user, one Python environment, or the whole machine."""

from __future__ import annotations

import enum


class Scope(enum.Enum):
    USER = "user"  # the user's own files; no admin rights needed
    SITE = "site"  # the running Python environment (sys.prefix): a venv or a CI interpreter
    GLOBAL = "global"  # machine-wide files; needs admin rights, and paths users cannot swap
    NONE = "none"  # write the bundle only; configure no tool
