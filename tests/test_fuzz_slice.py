"""CI's slice of the loading fuzz (tests/stress/fuzz_loading.py runs 100,000 cases):
2,000 cases drawn by hypothesis from the same case engine. For any of them only
``ModelError`` escapes ``load_model``, never through the last-resort wrapper, and no
damaged network file loads with different parameters, except a ``:vector`` number
changed in a file without the checksum."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_SPEC = importlib.util.spec_from_file_location(
    "fuzz_cases", Path(__file__).parent / "stress" / "fuzz_cases.py")
fuzz_cases = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("fuzz_cases", fuzz_cases)  # dataclasses look their module up
_SPEC.loader.exec_module(fuzz_cases)

_DIRECTORY = Path(tempfile.mkdtemp(prefix="fuzz-slice-"))
_GOOD = {"model-error", "loaded", "loaded-same", "loaded-allowed"}


# derandomize: the same 2,000 cases on every run, so CI is never flaky; the stress
# script is where new seeds are explored.
@settings(max_examples=2000, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.integers(min_value=0, max_value=2**40))
def test_loading_fuzz_slice(seed):
    case = fuzz_cases.make_case(seed)
    outcome = fuzz_cases.run_case(case, _DIRECTORY)
    plain_file = case.kind == "file" and case.network.endswith("/plain")
    assert outcome in _GOOD or (outcome == "loaded-options" and plain_file), (
        f"seed {seed}: {outcome} ({case.kind} {case.how} {case.network} {case.note}); "
        f"replay: python tests/stress/fuzz_loading.py --replay {seed}")


def test_the_engine_damages_every_kind_of_file():
    files = fuzz_cases.network_files()
    assert {key.split("/", 1)[1] for key in files} == {"tensor/crc", "tensor/plain",
                                                       "vector/crc", "vector/plain"}
    for key, (data, _) in files.items():
        assert (b":cortex-bridge/crc32 " in data) == key.endswith("/crc")
        case = fuzz_cases.Case(0, "file", data, "path", network=key)
        assert fuzz_cases.run_case(case, _DIRECTORY) == "loaded-same", key
