"""The ``hardneg`` command.

``hardneg serve [FLAG ...]`` runs the miner-server that this install carries (or
``$HARDNEG_SERVER_BIN``, or ``miner-server`` on PATH) in the foreground, passing every
flag through: ``hardneg serve --data-dir=./data --grpc-addr=:50051``.
``hardneg serve --help`` prints the server's flags.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from hardneg._server import ServerNotFound, find_binary

USAGE = """usage: hardneg serve [miner-server flags ...]

commands:
  serve    run the miner-server in the foreground (flags are passed through;
           'hardneg serve --help' lists them)
"""


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    if args[0] != "serve":
        sys.stderr.write(f"hardneg: unknown command {args[0]!r}\n{USAGE}")
        return 2
    try:
        binary = find_binary()
    except ServerNotFound as e:
        sys.stderr.write(f"hardneg serve: {e}\n")
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, *args[1:]])
    return 0  # pragma: no cover  (execv does not return)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
