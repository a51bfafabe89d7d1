"""The paramcalc program: ``python -m paramcalc`` and the ``paramcalc`` console script.

It takes charge of what the terminal and the shell hand it before anything heavy is imported
(importing the package costs nothing): Ctrl-C at any moment, start-up included, ends with one
line and exit code 130; an output closed early (``| head``) ends quietly with 141, as a
program killed by SIGPIPE does; an output that refuses what is written (``> /dev/full``) is
one ``Error:`` line and exit code 2.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

#: exit codes a shell gives a program ended by Ctrl-C (SIGINT) and by a closed pipe (SIGPIPE)
INTERRUPTED = 128 + signal.SIGINT
CLOSED = 128 + signal.SIGPIPE


def main() -> None:
    """Run the command line in ``sys.argv`` and exit with its code."""
    if sys.stdout is None:  # started with stdout closed (>&-): Python leaves it None
        _say("Error: cannot write to standard output: it is closed")
        sys.exit(2)
    code = 2
    try:
        from .cli import run  # typer, rich and sympy: start-up itself can be interrupted

        code = run(sys.argv[1:])
        sys.stdout.flush()
    except KeyboardInterrupt:
        code = _interrupted()
    except BrokenPipeError:
        code = _closed()
    except OSError as error:
        code = _refused(error)
    finally:
        # the exit itself is not interrupted: a Ctrl-C now would print a traceback at shutdown
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


def _interrupted() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut this short
    _say("Aborted.")
    return INTERRUPTED


def _closed() -> int:
    """The reader went away: whatever is still buffered goes nowhere, and nothing is said."""
    _discard_stdout()
    return CLOSED


def _refused(error: OSError) -> int:
    """Standard output refused a write (a full disk, /dev/full, a closed descriptor): one
    line. Every file paramcalc reads or writes reports its own errors with its path, so an
    OS error without a file name that reached this far is the output's; any other is a bug
    and keeps its traceback."""
    if error.filename is not None or error.errno not in _WRITE_ERRORS:
        raise error
    _discard_stdout()
    _say(f"Error: cannot write to standard output: {error.strerror or error}")
    return 2


#: what a write to a full, broken or closed output can fail with
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF, errno.EAGAIN,
                 errno.ENXIO, errno.EINVAL}


def _discard_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _say(line: str) -> None:
    if sys.stderr is None:  # closed too: the exit code says it
        return
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed too: the exit code says it
        pass


if __name__ == "__main__":
    main()
