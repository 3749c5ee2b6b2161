"""bridge.edn.payloads: big tensor literals decoded from the file's bytes, and the
ordinary reader whenever that shortcut cannot vouch for the file."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from bridge.edn import Keyword, dumps, encode_tensor, loads, payloads, tensor_readers
from bridge.edn.payloads import MIN_PAYLOAD, read_edn_file
from bridge.edn.writer import dump_chunks
from bridge.errors import EdnSyntaxError, ModelError

K = Keyword
# float32 values whose base64 is comfortably past the cut-out threshold
BIG = (MIN_PAYLOAD * 3 // 4) // 4 + 1000


def random_tensor(count: int, seed: int = 0) -> torch.Tensor:
    bits = np.random.default_rng(seed).integers(0, 2**32, size=count, dtype=np.uint32)
    return torch.from_numpy(bits.view(np.float32).copy())


def write(path, value) -> str:
    text = dumps(value, indent=1)
    path.write_text(text, encoding="utf-8")
    return text


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.view(torch.int32), b.view(torch.int32))


@pytest.fixture
def spy(monkeypatch):
    """Counts how often the shortcut succeeds (returns) and how often it gives up."""
    calls = {"cut": 0, "gave up": 0}
    original = payloads._read_cut

    def counted(*args):
        try:
            value = original(*args)
        except Exception:
            calls["gave up"] += 1
            raise
        calls["cut"] += 1
        return value

    monkeypatch.setattr(payloads, "_read_cut", counted)
    return calls


def test_big_literals_are_decoded_from_the_file_bit_for_bit(tmp_path, spy):
    weights, bias = random_tensor(BIG, 1).reshape(-1, 8), random_tensor(BIG, 2)
    path = tmp_path / "net.edn"
    text = write(path, {K("w"): encode_tensor(weights), K("b"): encode_tensor(bias),
                        K("small"): encode_tensor(torch.ones(3)), K("name"): "x"})
    fast = read_edn_file(path, readers=tensor_readers())
    slow = loads(text, readers=tensor_readers())
    assert spy == {"cut": 1, "gave up": 0}
    for key, expected in ((K("w"), weights), (K("b"), bias)):
        assert same_bits(fast[key], expected) and same_bits(slow[key], expected)
    assert torch.equal(fast[K("small")], torch.ones(3)) and fast[K("name")] == "x"
    # positions of the forms before and after a cut are those of the text
    assert fast.key_positions == slow.key_positions


def test_decoded_tensors_own_their_memory_after_the_file_is_closed(tmp_path):
    path = tmp_path / "net.edn"
    write(path, [encode_tensor(random_tensor(BIG))])
    tensor = read_edn_file(path, readers=tensor_readers())[0]
    path.unlink()
    tensor.add_(1.0)  # writable, and not a view of the file's buffer
    assert tensor.numel() == BIG


@pytest.mark.parametrize("where", ["comment", "string", "discarded"])
def test_a_tag_spelled_inside_a_comment_or_string_changes_nothing(tmp_path, spy, where):
    literal = dumps(encode_tensor(random_tensor(BIG)))
    decoy = {
        "comment": f";; {literal}\n[1 2]",
        "string": f"[{dumps(literal)} 7]",
        "discarded": f"[#_ {literal} 7]",
    }[where]
    path = tmp_path / "decoy.edn"
    path.write_text(decoy, encoding="utf-8")
    assert read_edn_file(path, readers=tensor_readers()) == loads(
        decoy, readers=tensor_readers())


def test_a_file_that_spells_the_placeholder_tag_takes_the_ordinary_path(tmp_path, spy):
    literal = dumps(encode_tensor(random_tensor(BIG)))
    text = f'["#{payloads.PAYLOAD_TAG} 0" {literal}]'
    path = tmp_path / "spelled.edn"
    path.write_text(text, encoding="utf-8")
    value = read_edn_file(path, readers=tensor_readers())
    assert value[0] == f"#{payloads.PAYLOAD_TAG} 0" and spy["cut"] == 0


def test_a_payload_under_another_key_is_read_as_the_string_it_is(tmp_path, spy):
    literal = dumps(encode_tensor(random_tensor(BIG)))
    data = literal[literal.index('"'):literal.rindex('"') + 1]
    # the tag opens a map whose big string is not the tensor's data: a bad literal
    text = f"#cortex-bridge/tensor {{:note {data}}}"
    path = tmp_path / "odd.edn"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match="unknown keys :note"):
        read_edn_file(path, readers=tensor_readers())
    # the same map untagged: the big string comes back whole, a plain string
    path.write_text("[#_ #cortex-bridge/tensor {} " + text[len("#cortex-bridge/tensor "):]
                    + "]", encoding="utf-8")
    value = read_edn_file(path, readers={"cortex-bridge/tensor": lambda v: v})
    assert value[0][K("note")] == data[1:-1]


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:100] + ("B" if d[100] == "A" else "A") + d[101:], "checksum mismatch"),
    (lambda d: d[:400] + "\\n" + d[402:], "truncated"),  # the escape reads as one char
    (lambda d: d[:400] + "AA==" + d[404:], "not valid base64"),
    (lambda d: d[:-8], "truncated"),
])
def test_damage_gives_the_ordinary_error_with_its_position(tmp_path, damage, message):
    literal = dumps(encode_tensor(random_tensor(BIG)))
    start, end = literal.index('"') + 1, literal.rindex('"')
    text = "[1\n " + literal[:start] + damage(literal[start:end]) + literal[end:] + "]"
    path = tmp_path / "damaged.edn"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match=message) as fast:
        read_edn_file(path, readers=tensor_readers())
    with pytest.raises(ModelError, match=message) as slow:
        loads(text, readers=tensor_readers(), source=str(path))
    assert str(fast.value) == str(slow.value)
    assert (fast.value.line, fast.value.column) == (slow.value.line, slow.value.column) == (2, 2)


def test_syntax_errors_after_a_cut_keep_their_exact_column(tmp_path):
    literal = dumps(encode_tensor(random_tensor(BIG)))
    text = f"[{literal} :ok \\bad]"
    path = tmp_path / "bad.edn"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EdnSyntaxError) as fast:
        read_edn_file(path, readers=tensor_readers())
    with pytest.raises(EdnSyntaxError) as slow:
        loads(text, readers=tensor_readers())
    assert (fast.value.line, fast.value.column) == (slow.value.line, slow.value.column)
    assert fast.value.column > len(literal)


def test_non_utf8_files_are_refused_as_such(tmp_path):
    path = tmp_path / "latin.edn"
    literal = dumps(encode_tensor(random_tensor(BIG)))
    head = f"[{literal}\n ".encode()
    path.write_bytes(head + b'"caf\xe9"]')
    offset = len(head) + 4
    with pytest.raises(EdnSyntaxError, match=rf"latin.edn:2:6: the text is not UTF-8: byte "
                                             rf"{offset:,} \(0xe9\)") as caught:
        read_edn_file(path, readers=tensor_readers())
    assert (caught.value.line, caught.value.column) == (2, 6)


def test_dump_chunks_are_the_bytes_of_dumps():
    value = {K("w"): encode_tensor(random_tensor(BIG)), K("m"): np.arange(12.0).reshape(3, 4),
             K("t"): torch.tensor([[1.5, -0.0], [float("nan"), 2.0]]), K("s"): "é"}
    for indent in (None, 1):
        chunks = dump_chunks(value, indent=indent)
        assert all(type(c) is bytes for c in chunks)
        assert b"".join(chunks) == dumps(value, indent=indent).encode("utf-8")
    big = [c for c in dump_chunks(value, indent=1) if len(c) > MIN_PAYLOAD]
    assert big, "the base64 text comes out as its own chunks"


def test_the_crc_of_pieces_is_the_crc_of_the_whole():
    tensor = random_tensor(3 * (1 << 20))  # spans several encoding pieces
    value = loads(dumps(encode_tensor(tensor)), readers={"cortex-bridge/tensor": lambda v: v})
    raw = tensor.numpy().tobytes()
    assert value[K("crc32")] == zlib.crc32(raw)
    assert same_bits(loads(dumps(encode_tensor(tensor)), readers=tensor_readers()), tensor)
