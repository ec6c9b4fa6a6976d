"""The `vstream` command line: `main` parses (`parser`), runs the command (`commands`) and
turns a VStreamError into one line on stderr and an exit code; `run` is the process (the
`vstream` script and `python -m vstream`). `sql_command` and
`events_command` are the workings of `vstream sql` (rows streamed as they arrive, stoppable) and
`vstream events` (stored or followed live)."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence

from vstream.errors import Terminated, VStreamError
from vstream.cli.commands import COMMANDS
from vstream.cli.parser import build_parser



def _without_library_tracebacks(record: logging.LogRecord) -> bool:
    """Below -vv, libraries' log records keep their line but lose their traceback (the
    ClickHouse driver logs one for every refused connection, beside vstream's own one-line
    error); vstream's own records are left as they are."""
    if record.exc_info and not record.name.startswith("vstream"):
        record.exc_info, record.exc_text = None, None
    return True


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C (SIGINT) stops every command the same way, also when vstream was started from a
    # script's background job, which a non-interactive shell starts with SIGINT ignored. SIGTERM
    # stops it the same way (Terminated), so a service manager's stop unwinds what it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_without_library_tracebacks)
    if args.verbose == 0:  # its failed-connection warnings repeat vstream's own error line
        logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)
    try:
        return COMMANDS[args.command](args)
    except VStreamError as ex:
        print(f"vstream: error: {ex}", file=sys.stderr)
        return ex.exit_code
    except ValueError as ex:  # a caller mistake caught by a stage's argument checks
        print(f"vstream: error: {ex}", file=sys.stderr)
        return 2
    except Terminated:
        print("vstream: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("vstream: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vstream scenes x | head`: the reader left; not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def run() -> None:
    """The `vstream` process: `main`, then exit with its code.

    Before exiting, every object is moved to the collector's permanent generation: the
    interpreter's final collections over numba's, chDB's and torch's objects cost a shots-only
    index 0.3 s of its ~1.2 s on a 1-s clip, and the memory goes back to the system anyway.
    Only the process does this, never `main` (tests call it in their own process).
    """
    code = main()
    sys.stdout.flush()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
