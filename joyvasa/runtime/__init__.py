"""How things run, below every stage: progress reporting for the commands.

    progress.py   bars on a terminal, plain lines in logs, nothing when quiet

Nothing is imported here: import the module you need.
"""
