"""The one base class of the errors a user can fix (input, config, environment)."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the CLI prints it as one ``error:`` line, no traceback.

    Every stage's user-facing error derives from it (bad input, settings, too little data, a
    missing model or campaign, no API key, an engine that cannot start), so the CLI catches one
    class without importing the stages.
    """
