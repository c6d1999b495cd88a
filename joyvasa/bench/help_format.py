"""The benchmarks' --help: every default printed, a switch's as what it means."""

from __future__ import annotations

import argparse


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Prints ``(default: X)`` after each option, except switches (``--compile``, ``--no-reference``):
    their default is "not given", which ``True`` / ``False`` of the stored value would misstate
    (``--no-reference`` stores False into ``reference``, whose default is True); their help says it."""

    def _get_help_string(self, action):
        if action.nargs == 0 and action.option_strings:  # store_true / store_false / store_const
            return action.help
        return super()._get_help_string(action)
