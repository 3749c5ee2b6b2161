"""Fuzz ``bridge.load_model`` with mutated model texts and damaged network files.

    .venv/bin/python tests/stress/fuzz_loading.py [--cases 100000] [--first 0] [--jobs 1]
    .venv/bin/python tests/stress/fuzz_loading.py --replay SEED [SEED …]

Not part of the test suite (pytest does not collect this file; CI runs a 2,000-case
slice, ``tests/test_fuzz_slice.py``). Each case comes from one integer seed (see
``fuzz_cases.py``), so a reported case replays exactly. Every case runs under a hard
time limit (``--limit``, default 60 s, after which it counts as ``timeout``) and
a memory ceiling (``--memory-gb``); cases over ``--slow`` seconds (default 5) are
counted and listed (``over-slow`` by the wall clock, which other processes on a busy
machine inflate; ``over-slow-cpu`` by the process's own CPU time). Prints the counts by
outcome and the seeds of every bad one
(``other-exception``, ``internal-error``, ``loaded-different``, ``loaded-options`` on a
checksummed file, slow cases); exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# This checkout's bridge (not an installed one), and fuzz_cases beside this file.
sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

from fuzz_cases import OUTCOMES, make_case, network_files, run_case  # noqa: E402


class _Timeout(BaseException):
    """Raised in a case that ran past the hard limit (BaseException: no except clause in
    the code under test can swallow it)."""


def _alarm(signum, frame):
    raise _Timeout


def _worker(args) -> tuple[Counter, list, float]:
    first, count, step, limit, slow, memory_gb = args
    if memory_gb:
        size = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    signal.signal(signal.SIGALRM, _alarm)
    network_files()  # built once per worker, outside any case's time
    counts, bad, slowest = Counter(), [], 0.0
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(first, first + count * step, step):
            case = make_case(seed)
            start = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                outcome = run_case(case, Path(directory))
            except _Timeout:
                outcome = "timeout"
            except MemoryError:
                outcome, case.note = "other-exception", case.note + " -> MemoryError"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            # load_model's own time (classifying an outcome is not part of it); a case
            # stopped by the limit ran the whole limit.
            elapsed = case.seconds if outcome != "timeout" else time.perf_counter() - start
            cpu = case.cpu
            slowest = max(slowest, elapsed)
            counts[outcome] += 1
            counts["cpu-ms"] = max(counts["cpu-ms"], round(cpu * 1000))
            if elapsed > slow:
                counts["over-slow"] += 1
            if cpu > slow:
                counts["over-slow-cpu"] += 1
            bad_options = outcome == "loaded-options" and "/crc" in case.network
            if (outcome in ("other-exception", "internal-error", "loaded-different", "timeout")
                    or bad_options or elapsed > slow):
                bad.append((seed, outcome, round(elapsed, 2), case.kind, case.network,
                            case.note[:400]))
    return counts, bad, slowest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--first", type=int, default=0, help="seed of the first case")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--limit", type=float, default=60.0, help="hard seconds per case")
    parser.add_argument("--slow", type=float, default=5.0, help="seconds that count as slow")
    parser.add_argument("--memory-gb", type=float, default=8.0, help="address-space ceiling "
                        "per worker (0: none)")
    parser.add_argument("--replay", type=int, nargs="*", help="run only these seeds")
    options = parser.parse_args(argv)
    if options.replay:
        for seed in options.replay:
            case = make_case(seed)
            with tempfile.TemporaryDirectory() as directory:
                outcome = run_case(case, Path(directory))
            print(f"{seed}: {outcome} in {case.seconds:.2f} s ({case.cpu:.2f} s CPU) "
                  f"({case.kind} {case.how} {case.network} {case.note})")
        return 0
    jobs = max(1, options.jobs)
    tasks = [(options.first + j, len(range(j, options.cases, jobs)), jobs, options.limit,
              options.slow, options.memory_gb) for j in range(jobs)]
    start = time.perf_counter()
    if jobs == 1:
        results = [_worker(tasks[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            results = pool.map(_worker, tasks)
    counts, bad, slowest, cpu_ms = Counter(), [], 0.0, 0
    for c, b, s in results:
        cpu_ms = max(cpu_ms, c.pop("cpu-ms", 0))
        counts.update(c)
        bad.extend(b)
        slowest = max(slowest, s)
    print(f"{options.cases:,} cases (seeds {options.first}..{options.first + options.cases - 1})"
          f" in {time.perf_counter() - start:.0f} s; slowest case {slowest:.2f} s "
          f"(wall clock), {cpu_ms / 1000:.2f} s (CPU)")
    for outcome in (*OUTCOMES, "timeout", "over-slow", "over-slow-cpu"):
        print(f"  {outcome:18} {counts.get(outcome, 0):8,}")
    for seed, outcome, elapsed, kind, network, note in sorted(bad)[:200]:
        print(f"  seed {seed}: {outcome} {elapsed} s {kind} {network} {note}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
