"""Domain errors. The CLI turns any VStreamError into one line and a non-zero exit."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`docker stop`, `systemctl stop`, `kill`), raised where Ctrl-C would raise
    KeyboardInterrupt: a command stops as it does on Ctrl-C, stopping what it started (a
    benchmark's broker, a query), and exits 143 instead of 130."""


class VStreamError(Exception):
    """Base of every failure vstream reports to a user (bad input, unreachable store, ...)."""

    exit_code = 1


class VideoOpenError(VStreamError):
    """A source could not be opened or holds no decodable video stream."""

    exit_code = 2


class ChunkFormatError(VStreamError):
    """Bytes that do not decode as a GopChunk (wrong magic, version, checksum or lengths)."""

    exit_code = 3


class DecodeError(VStreamError):
    """A chunk whose packets FFmpeg could not decode."""

    exit_code = 4


class StoreError(VStreamError):
    """The ClickHouse store (chDB or server) refused or failed an operation."""

    exit_code = 5


class ReadOnlyQueryError(StoreError):
    """A query given to `vstream sql` tried to change data."""

    exit_code = 6
