"""How things run, below every stage: progress reporting for the commands, memory estimates.

    progress.py   bars on a terminal, plain lines in logs, nothing when quiet
    memory.py     activation memory a stage asks for; frames per batch that fit in free memory

Nothing is imported here: import the module you need.
"""
