"""Matplotlib settings shared by the figures the program draws (case report, cohort figures), and the one way to
apply them.

Pure core: matplotlib is imported only when a decorated function runs, never at module import.
"""

from __future__ import annotations

import functools

#: Setting of every figure that shows a user's text (a case id, ROI name, file name, model label): shown as typed,
#: never parsed as math (a '$' in it is neither typeset nor an error).
TEXT_AS_TYPED = {"text.parse_math": False}


def drawn_with(settings: dict):
    """Return a decorator that runs a function with matplotlib's ``settings`` (rcParams) in force, restored after.

    Each text reads its settings when it is made, so the function that makes a figure's texts is the one to decorate.
    Without matplotlib the function runs as it is (it reports the missing package in its own words).
    """

    def decorate(function):
        @functools.wraps(function)
        def drawn(*args, **kwargs):
            try:
                import matplotlib
            except ImportError:
                return function(*args, **kwargs)
            with matplotlib.rc_context(settings):
                return function(*args, **kwargs)

        return drawn

    return decorate
