"""Fuzz cases for loading, shared by the stress script (``fuzz_loading.py``) and CI's
hypothesis slice (``tests/test_fuzz_slice.py``).

A case is made from one integer seed, so any case the stress script reports is replayed
with ``python tests/stress/fuzz_loading.py --replay SEED``. Two families:

* **model texts**: a seed model (the repository's ``edn_models`` and a few inline ones)
  with one to four mutations — byte flips, insertions, deletions, duplicated spans, deep
  nesting, huge numbers, tags, duplicate keys, long strings, bytes that are not UTF-8 —
  handed to ``load_model`` as text, bytes or a file;
* **damaged network files**: small trained-shape networks saved by ``save_network`` in
  both encodings, with and without the whole-file checksum (a file without it stands
  for a hand-edited one), with one to three byte-level damages, loaded from a file.

:func:`run_case` loads a case and names its outcome (see :data:`OUTCOMES`).
"""

from __future__ import annotations

import random
import re
import time
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import torch

import bridge
from bridge.errors import ModelError, UnknownKeyWarning

__all__ = ["OUTCOMES", "Case", "make_case", "run_case", "text_seeds", "network_files"]

ROOT = Path(__file__).resolve().parents[2]
#: Parameters a fuzzed model may ask for: enough for every seed, small enough that a
#: mutated size allocates nothing this machine cannot hold.
MAX_PARAMETERS = 10_000_000

OUTCOMES = (
    "model-error",        # ModelError (or OSError for a missing file): the good outcome
    "internal-error",     # a ModelError from load_model's last-resort wrapper: a bug
    "loaded",             # a model text that still reads as a model
    "loaded-same",        # a damaged network file whose damage changed nothing
    "loaded-different",   # a damaged network file that loads with different parameters
    "loaded-allowed",     # ... where that is allowed: a :vector number of a file w/o CRC
    "loaded-options",     # same parameters, different layer options or ids (no CRC)
    "other-exception",    # anything else escaping load_model: a bug
)

_INLINE_SEEDS = [
    "[(input 4) (linear 3) (relu) (linear 2)]",
    "(nn/sequential [(nn/input 784) (nn/dense 128) (nn/relu) (nn/dense 10) (nn/softmax)])",
    "[(layers/input 28 28 1 :id :data) (layers/convolutional 5 0 1 20) "
    "(layers/max-pooling 2 0 2) (layers/relu) (layers/linear 10) (layers/softmax :id :labels)]",
    "{:cortex-bridge/format 1 :description [(input 2 1 1 :id :x) (linear->tanh 3) "
    "(linear 1 :id :y :weights [[1 2 3]] :bias [0.5])]}",
    "[(input 4 :id :a) (input 4 :id :b :parents []) (join :parents [:a :b] :operation :*) "
    "(concatenate :parents [:join-1 :a]) (batch-normalization) (dropout 0.5)]",
    "[{:type :input :output-size 6 :output-width 3 :output-height 2 :output-channels 1} "
    "{:type :max-pooling :kernel-width 2 :kernel-height 2 :pad-x 1 :pad-y 1 :stride-x 1 "
    ":stride-y 1 :pool-op :avg-exc-pad} {:type :prelu} {:type :linear :output-size 2 "
    ":weights {:buffer [[1 2 3 4 5 6 7 8 9 10 11 12] [1 2 3 4 5 6 7 8 9 10 11 12]]}}]",
]

_PIECES = ["(", ")", "[", "]", "{", "}", ":", "#", "-1", "0", "1e9", "##NaN", "##Inf",
           ":id", ":parents", '"', "\\", " ", "\n", ";", "linear", "input", "#_", "^", "@",
           "1000000000", "99999999999999999999", "1e400", "-0.0", "1/0", "22/7", "1.5M",
           ":type", "~", "/", "nil", "true", "[[1 2]]", "#{}", "#:a{:b 1}", "\\u0041",
           ":weights", ":bias", ":pad-x 1000000", ":stride-x 0", ":kernel-width 99999",
           "(max-pooling 100000 100000 1)", "(convolutional 1 100000 1 1)",
           "(input 100000 100000 1)", "(linear 100000000)",
           ":weights {:initialization {:type :orthogonal}}", "#inst \"2020\"",
           "#uuid \"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"", "#foo/bar 1", "#object[x]",
           "#cortex-bridge/tensor {:dtype :float32 :shape [2] :data \"AAAAAAAAAAA=\" "
           ":crc32 1696784233}",
           "#cortex-bridge/tensor {:dtype :float32 :shape [100000000000] :data \"\" "
           ":crc32 0}", "é", "\u2028", "\ud800", "\x00"]
_TAGS = ["#inst", "#uuid", "#foo", "#cortex-bridge/tensor", "#cortex-bridge/payload", "#_",
         "##", "#:ns", "#?", "#'"]


@lru_cache(maxsize=1)
def text_seeds() -> tuple[str, ...]:
    files = sorted((ROOT / "edn_models").glob("*.edn"))
    return tuple(_INLINE_SEEDS + [f.read_text(encoding="utf-8") for f in files])


@dataclass
class Case:
    """One fuzz case. ``kind`` is ``"text"`` or ``"file"``; ``data`` the bytes or text
    given to the loader; ``how`` is ``"str"``, ``"bytes"`` or ``"path"``."""

    seed: int
    kind: str
    data: str | bytes
    how: str
    network: str = ""   # for files: which saved network (its index key)
    note: str = ""      # the mutations, for the report
    seconds: float = 0.0  # how long load_model took (wall clock), set by run_case
    cpu: float = 0.0      # ... and its CPU time


# --- model texts -------------------------------------------------------------------------

def _mutate_text(rng: random.Random, text: str) -> tuple[str | bytes, str]:
    notes, raw = [], None
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(["flip", "insert", "insert", "delete", "duplicate", "nest", "number",
                         "tag", "dup-key", "long-string", "long-token", "utf8"])
        notes.append(op)
        pos = rng.randint(0, len(text))
        if op == "flip" and text:
            data = bytearray(text.encode("utf-8", "surrogatepass"))
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raw = bytes(data)
                break
        elif op == "insert":
            text = text[:pos] + rng.choice(_PIECES) + text[pos:]
        elif op == "delete":
            end = min(len(text), pos + rng.choice([1, 1, 2, 5, 20]))
            text = text[:pos] + text[end:]
        elif op == "duplicate":
            end = min(len(text), pos + rng.randint(1, 40))
            text = text[:end] + text[pos:end] + text[end:]
        elif op == "nest":
            depth = rng.choice([50, 199, 200, 201, 500, 1000, 5000, 20000])
            opener, closer = rng.choice([("[", "]"), ("(", ")"), ("{:a ", "}"), ("#{", "}"),
                                         ("(linear ", ")"), ("{", "}")])
            inner = text[pos:pos + rng.randint(0, 30)]
            text = text[:pos] + opener * depth + inner + closer * depth + text[pos:]
        elif op == "number":
            number = rng.choice(["9" * rng.randint(10, 5000), "1e" + str(rng.randint(10, 400)),
                                 str(2**rng.randint(31, 70)), "-" + "9" * 30, "0x" + "f" * 40,
                                 "36r" + "z" * 30, "1" + "0" * 4299, "1" + "0" * 4300])
            match = list(re.finditer(r"\d+", text))
            if match:
                m = rng.choice(match)
                text = text[:m.start()] + number + text[m.end():]
        elif op == "tag":
            text = text[:pos] + rng.choice(_TAGS) + " " + text[pos:]
        elif op == "dup-key":
            match = list(re.finditer(r"(:[a-z-]+) ([^ \]\)\}]+)", text))
            if match:
                m = rng.choice(match)
                text = text[:m.end()] + " " + m.group(0) + text[m.end():]
        elif op == "long-string":
            body = rng.choice(["a", "\\n", "é", "\\u0041", " "]) * rng.choice(
                [1000, 100_000, 1_000_000])
            if rng.random() < 0.5:  # a duplicate key after a long string
                piece = f' {{:name "{body}" :name 1}} '
            else:
                piece = f'"{body}' + ('"' if rng.random() < 0.7 else "")
            text = text[:pos] + piece + text[pos:]
        elif op == "long-token":
            token = rng.choice(["a/", "a", ":a/b/", "/"]) * rng.choice([1000, 50_000])
            text = text[:pos] + " " + token + " " + text[pos:]
        elif op == "utf8":
            data = text.encode("utf-8", "surrogatepass")
            bad = rng.choice([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"])
            raw = data[:pos] + bad + data[pos:]
            break
    if raw is not None:
        return raw, " ".join(notes)
    return text, " ".join(notes)


def _text_case(seed: int, rng: random.Random) -> Case:
    data, note = _mutate_text(rng, rng.choice(text_seeds()))
    if isinstance(data, bytes):
        how = rng.choice(["bytes", "path"])
    else:
        how = rng.choice(["str", "str", "bytes", "path"])
    return Case(seed, "text", data, how, note=note)


# --- damaged network files ---------------------------------------------------------------

_NETWORKS = {
    "mlp": "[(input 4 :id :data) (linear->relu 5) (dropout 0.5) (linear 3) "
           "(softmax :id :labels)]",
    "conv": "[(input 6 6 2 :id :data) (convolutional 3 1 1 3) (max-pooling 2 0 2 :pool-op :avg)"
            " (batch-normalization) (relu :center-loss {:labels {:stream :labels}}) "
            "(linear 4) (softmax :id :labels)]",
    "prelu": "[(input 3 :id :data) (linear 4) (prelu) (linear 2 :id :labels)]",
}


@cache
def network_files() -> dict[str, tuple[bytes, dict]]:
    """``{"mlp/tensor/crc": (file bytes, {layer: {name: tensor}}), …}``: each network in
    each encoding, with the checksum and without it."""
    from bridge.saving.save import network_to_chunks

    files = {}
    for name, text in _NETWORKS.items():
        net = bridge.load_model(text, seed=1)
        with torch.no_grad():  # running statistics and centers that are not all zeros
            for params in net.parameters_by_layer().values():
                for tensor in params.values():
                    tensor.add_(torch.rand(tensor.shape, generator=torch.Generator()
                                           .manual_seed(2)))
        reference = {layer: {k: v.detach().clone() for k, v in params.items()}
                     for layer, params in net.parameters_by_layer().items()}
        for encoding in ("tensor", "vector"):
            for crc in (True, False):
                data = b"".join(network_to_chunks(net, encoding=encoding, checksum=crc))
                files[f"{name}/{encoding}/{'crc' if crc else 'plain'}"] = (data, reference)
    return files


def _damage(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    data = bytearray(data)
    notes = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.choice(["flip", "flip", "byte", "insert", "delete", "truncate", "swap",
                         "digit"])
        pos = rng.randrange(len(data))
        notes.append(f"{op}@{pos}")
        if op == "flip":
            data[pos] ^= 1 << rng.randrange(8)
        elif op == "byte":
            data[pos] = rng.randrange(256)
        elif op == "insert":
            data[pos:pos] = bytes([rng.choice(b" 0123456789.-e[]{}():\"#abcxyzAZ=/+")])
        elif op == "delete":
            del data[pos:pos + rng.choice([1, 1, 2, 8])]
        elif op == "truncate":
            del data[pos:]
            if not data:
                data = bytearray(b"{")
        elif op == "swap":
            other = rng.randrange(len(data))
            data[pos], data[other] = data[other], data[pos]
        else:  # one digit changed into another: the damage a checksum exists for
            digits = [m.start() for m in re.finditer(rb"\d", data)]
            if digits:
                at = rng.choice(digits)
                data[at] = rng.choice(b"0123456789")
    return bytes(data), " ".join(notes)


def _file_case(seed: int, rng: random.Random) -> Case:
    key = rng.choice(sorted(network_files()))
    original = network_files()[key][0]
    data, note = original, ""
    while data == original:  # a swap of equal bytes is no damage
        data, note = _damage(rng, original)
    return Case(seed, "file", data, "path", network=key, note=note)


def make_case(seed: int) -> Case:
    """The case for ``seed``: about two thirds model texts, one third damaged files."""
    rng = random.Random(seed)
    if rng.random() < 0.65:
        return _text_case(seed, rng)
    return _file_case(seed, rng)


# --- running a case ----------------------------------------------------------------------

def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return torch.equal(a.reshape(-1).view(torch.int32), b.reshape(-1).view(torch.int32)) \
        if a.dtype == torch.float32 else torch.equal(a, b)


def _compare(net, reference: dict) -> str:
    """"same" when the layers hold bit-identical parameters, taken in description order
    (a layer whose id changed but whose numbers did not is compared by position; the
    id change itself is what ``_same_structure`` looks at)."""
    mine, theirs = list(net.parameters_by_layer().values()), list(reference.values())
    if len(mine) != len(theirs):
        return "different"
    for params, tensors in zip(mine, theirs, strict=True):
        if params.keys() != tensors.keys():
            return "different"
        if not all(_same_bits(params[k], v) for k, v in tensors.items()):
            return "different"
    return "same"


@cache
def _original_layers(key: str) -> str:
    return repr([(layer.id, layer.type, dict(layer.node)) for layer in
                 bridge.load_model(network_files()[key][0], seed=1).layers])


def run_case(case: Case, directory: Path) -> str:
    """Load ``case`` and name its outcome; only ``other-exception`` means a bug, and
    ``loaded-different`` one too (the exception text is in ``case.note``)."""
    path = directory / f"case-{case.seed}.edn"
    if case.how == "path":
        path.write_bytes(case.data if isinstance(case.data, bytes)
                         else case.data.encode("utf-8", "surrogatepass"))
        source = path
    elif case.how == "bytes":
        source = case.data if isinstance(case.data, bytes) else case.data.encode(
            "utf-8", "surrogatepass")
    else:
        source = case.data
    start, cpu = time.perf_counter(), time.process_time()
    try:
        # An unknown key is a warning by design (strict=True makes it an error); under
        # pytest's warnings-as-errors it would otherwise look like a crash.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownKeyWarning)
            net = bridge.load_model(source, seed=0, max_parameters=MAX_PARAMETERS)
    except (ModelError, FileNotFoundError) as error:
        if str(error).startswith("internal error") or "internal error while" in str(error):
            case.note += f" -> {str(error)[:300]}"
            return "internal-error"
        return "model-error"
    except Exception as error:  # noqa: BLE001 - what the fuzzing is looking for
        case.note += f" -> {type(error).__name__}: {str(error)[:300]}"
        return "other-exception"
    finally:
        case.seconds, case.cpu = time.perf_counter() - start, time.process_time() - cpu
        if case.how == "path":
            path.unlink(missing_ok=True)
    if case.kind == "text":
        return "loaded"
    reference = network_files()[case.network][1]
    if _compare(net, reference) == "different":
        # Allowed: a file without the checksum where some of the damage is to numbers
        # (which nothing can tell from an edit); any other damage it has is then an id
        # or option change, allowed there too (see "loaded-options"). A non-number damage
        # that changed parameters on its own shows up in the one-damage cases.
        if case.network.endswith("/vector/plain") and _damages_numbers(case):
            return "loaded-allowed"
        return "loaded-different"
    if not _same_structure(net, case.network):
        return "loaded-options"
    return "loaded-same"


def _damages_numbers(case: Case) -> bool:
    """Whether some byte the damage changed is part of a number (digits, sign, point,
    exponent, ratio, suffix) and nothing else in that changed stretch."""
    import difflib

    original = network_files()[case.network][0]
    matcher = difflib.SequenceMatcher(None, original, case.data, autojunk=False)
    number = set(b"0123456789.-+eE/NM")  # "/": 1.5 damaged into the ratio 1/5
    return any(set(original[a:b]) <= number and set(case.data[c:d]) <= number
               for tag, a, b, c, d in matcher.get_opcodes() if tag != "equal")


def _same_structure(net, key: str) -> bool:
    mine = [(layer.id, layer.type, dict(layer.node)) for layer in net.layers]
    return repr(mine) == _original_layers(key)
