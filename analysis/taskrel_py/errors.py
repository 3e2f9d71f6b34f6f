"""Errors that the command line turns into exit codes, as the taskrel binary does:
2 for bad input (the message names the file, dataset or layer and what is wrong), 3 when a signal
stopped the run (completed splits are kept; rerun to resume)."""


class InputError(Exception):
    """Bad input: unknown model, missing or unfitting weights, bad layer, bad dataset, bad store."""

    exit_code = 2


class Interrupted(Exception):
    """SIGTERM / SIGUSR1 / SIGINT arrived; the split in progress was discarded."""

    exit_code = 3
