"""InputError: the library's error for bad input its caller can fix (a missing or corrupt file, a folder
that is not a dataset, a checkpoint that does not match the settings asked for).

It is a ValueError, so `except ValueError` still catches it. The command line answers it (and the
OSErrors of missing or unwritable paths) with one line and exit status 2; any other exception is
a bug and keeps its traceback. Imports nothing, so the command line can catch it without torch.
"""


class InputError(ValueError):
    """Input the caller can fix; the message says what is wrong and with which file or folder."""
