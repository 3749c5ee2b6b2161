"""``cortex-bridge repl``, ``nrepl`` and ``run``: Clojure front ends on the hosted JVM."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["add_commands", "project_classpath", "rlwrap_command"]


def project_classpath(directory: str | os.PathLike = ".") -> list[str]:
    """The classpath of a Clojure project in ``directory``, where its tool is installed.

    A ``deps.edn`` is read with the Clojure CLI (``clojure -Spath``), a ``project.clj``
    with Leiningen (``lein classpath``); otherwise, or without the tool, nothing.
    """
    from bridge.jvm.classpath import clojure_cli

    folder = Path(directory)
    cli = clojure_cli()  # the real Clojure CLI; Debian's `clojure` wrapper has no -Spath
    if (folder / "deps.edn").is_file() and cli:
        command_line = [cli, "-Spath"]
    elif (folder / "project.clj").is_file() and shutil.which("lein"):
        command_line = ["lein", "classpath"]
    else:
        return []
    result = subprocess.run(command_line, cwd=folder, capture_output=True, text=True,
                            timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command_line)} failed in {folder}: "
                           f"{result.stderr.strip()}")
    return [entry for entry in result.stdout.strip().split(os.pathsep) if entry]


def _classpath(args: argparse.Namespace) -> list[str]:
    entries = []
    for given in args.classpath or []:
        entries += [e for e in given.split(os.pathsep) if e]
    return entries + project_classpath(".")


# Set in the environment of the REPL that rlwrap runs, so it does not wrap itself again.
_UNDER_RLWRAP = "CORTEX_BRIDGE_UNDER_RLWRAP"


def rlwrap_command(argv: list[str]) -> list[str] | None:
    """The command line that runs this REPL under rlwrap (line editing, history in
    ~/.cortex-bridge-history), or None: no rlwrap, no terminal, already wrapped, or
    CORTEX_BRIDGE_RLWRAP=0."""
    import sys

    rlwrap = shutil.which("rlwrap")
    if (rlwrap is None or os.environ.get(_UNDER_RLWRAP) or not sys.stdin.isatty()
            or os.environ.get("CORTEX_BRIDGE_RLWRAP", "1") == "0"):
        return None
    history = str(Path.home() / ".cortex-bridge-history")
    # -q: the double quote opens a string; -b: Clojure's word breaks (for completion).
    return [rlwrap, "-H", history, "-q", '"', "-b", "(){}[],^%#@\";:'", sys.executable,
            "-m", "bridge", *argv]


def _repl(args: argparse.Namespace) -> int:
    import sys

    from bridge.jvm.repl import run_repl

    wrapped = None if args.no_rlwrap else rlwrap_command(sys.argv[1:])
    if wrapped is not None:
        os.environ[_UNDER_RLWRAP] = "1"
        os.execv(wrapped[0], wrapped)  # replaces this process; returns only on failure
    run_repl(classpath=_classpath(args))
    return 0


def _nrepl(args: argparse.Namespace) -> int:
    from bridge.jvm.repl import serve_nrepl

    serve_nrepl(port=args.port, bind=args.bind, classpath=_classpath(args),
                middleware=args.middleware or ())
    return 0


def _run(args: argparse.Namespace) -> int:
    from bridge.jvm.repl import run_script

    run_script(args.script, args.args, classpath=_classpath(args))
    return 0


def add_commands(sub) -> None:
    def classpath_option(parser):
        parser.add_argument("--classpath", "-cp", action="append", metavar="PATHS",
                            help="extra classpath entries (os.pathsep-separated); a deps.edn "
                                 "or project.clj in the working directory is added too")

    p = sub.add_parser("repl", help="a Clojure REPL with cortex-bridge loaded (line editing "
                                     "and history through rlwrap when installed)")
    p.add_argument("--no-rlwrap", action="store_true",
                   help="do not run under rlwrap (also CORTEX_BRIDGE_RLWRAP=0)")
    classpath_option(p)
    p.set_defaults(run=_repl)
    p = sub.add_parser("nrepl", help="an nREPL server for CIDER, Calva, Cursive, lein")
    p.add_argument("--port", type=int, default=0, help="default: a free port")
    p.add_argument("--bind", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, loopback only)")
    p.add_argument("--middleware", nargs="+", metavar="SYM", default=[],
                   help="extra nREPL middleware on the classpath, as qualified symbols "
                        "(e.g. cider.nrepl/cider-middleware)")
    classpath_option(p)
    p.set_defaults(run=_nrepl)
    p = sub.add_parser("run", help="run a Clojure script with cortex-bridge loaded")
    p.add_argument("script", metavar="SCRIPT.clj")
    p.add_argument("args", nargs=argparse.REMAINDER)
    classpath_option(p)
    p.set_defaults(run=_run)

