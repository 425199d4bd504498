"""The project's error for bad input: the CLI prints its message as one line, no traceback."""


class AudiomnistError(Exception):
    """Bad input or an impossible request; the message names the file or value and the fix."""
