"""What every error the package raises for a user's own input has in common.

A bad filter, file, scope or setting is the user's to fix, and its message names what is wrong
(rule, file and line, variable). A traceback through the package's validation code adds nothing
to that, so in IPython such an error shows as its one line, and the CLI prints only that line.
"""

from __future__ import annotations


class UserError(Exception):
    """Mixin for errors whose message is the whole story."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for the uncaught error: ``Name: message``, no traceback."""
        return [f"{type(self).__name__}: {self}"]
