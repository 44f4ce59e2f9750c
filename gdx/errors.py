"""The one exception the command line shows as a single line."""


class GdxError(Exception):
    """Bad input or a failed batch; the message names the file, field or rule."""
