"""``cortex-bridge repl``, ``nrepl`` and ``run``: Clojure front ends on the hosted JVM."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["add_commands", "project_classpath"]


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


def _repl(args: argparse.Namespace) -> int:
    from bridge.jvm.repl import run_repl

    run_repl(classpath=_classpath(args))
    return 0


def _nrepl(args: argparse.Namespace) -> int:
    from bridge.jvm.repl import serve_nrepl

    serve_nrepl(port=args.port, bind=args.bind, classpath=_classpath(args))
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

    p = sub.add_parser("repl", help="a Clojure REPL with cortex-bridge loaded")
    classpath_option(p)
    p.set_defaults(run=_repl)
    p = sub.add_parser("nrepl", help="an nREPL server for CIDER, Calva, Cursive, lein")
    p.add_argument("--port", type=int, default=0, help="default: a free port")
    p.add_argument("--bind", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, loopback only)")
    classpath_option(p)
    p.set_defaults(run=_nrepl)
    p = sub.add_parser("run", help="run a Clojure script with cortex-bridge loaded")
    p.add_argument("script", metavar="SCRIPT.clj")
    p.add_argument("args", nargs=argparse.REMAINDER)
    classpath_option(p)
    p.set_defaults(run=_run)

