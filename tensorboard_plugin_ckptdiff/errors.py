"""The errors the core raises: one for unreadable checkpoints, one for bad requests."""


class CheckpointError(Exception):
    """A file that claims a checkpoint format but cannot be read (corrupt, truncated,
    unsupported). The message is one sentence a user can act on."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self):
        return f"{self.path}: {self.message}" if self.path else self.message

    def __reduce__(self):  # the path too, when the error comes back from a reader process
        return type(self), (self.message, self.path)


class IncompleteCheckpoint(CheckpointError):
    """A checkpoint still being written: data shards missing or short, temp names.
    Not an error; looked at again later."""


class InvalidArgument(ValueError):
    """A request or command-line argument that cannot be honoured (bad mode, bad ref)."""


class NotFound(LookupError):
    """An id that was never handed out, or a path that does not exist."""
