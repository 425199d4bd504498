"""The project's error for bad input: the CLI prints its message as one line, no traceback."""


class AudiomnistError(Exception):
    """Bad input or an impossible request; the message names the file or value and the fix."""


class BookError(AudiomnistError):
    """A chapter that fails, a broken reference or citation, a missing tool: one line, the file at fault."""
