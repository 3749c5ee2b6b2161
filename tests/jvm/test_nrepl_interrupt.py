"""nREPL's interrupt stops a training in the session's JVM, as an editor sends it: the eval
ends ``interrupted`` within 2 s, nothing more arrives for it, and the same eval then runs
again. A small bencode client stands in for the editor."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from bridge.jvm import repl


def _encode(value) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(_encode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(_encode(k) + _encode(v) for k, v in sorted(value.items())) + b"e"
    raise TypeError(type(value))


class Client:
    """Just enough nREPL: send a message, read the replies (bencoded dicts)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""

    def send(self, **message) -> str:
        message.setdefault("id", uuid.uuid4().hex)
        self.sock.sendall(_encode(message))
        return message["id"]

    def _fill(self, deadline: float) -> bool:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return False
        if not chunk:
            raise ConnectionError("nREPL closed the connection")
        self.buffer += chunk
        return True

    def _decode(self, at: int):
        tag = self.buffer[at:at + 1]
        if not tag:
            raise IndexError
        if tag == b"i":
            end = self.buffer.index(b"e", at)
            return int(self.buffer[at + 1:end]), end + 1
        if tag in (b"l", b"d"):
            items, at = [], at + 1
            while self.buffer[at:at + 1] != b"e":
                if at >= len(self.buffer):
                    raise IndexError
                item, at = self._decode(at)
                items.append(item)
            if tag == b"l":
                return items, at + 1
            return dict(zip(items[::2], items[1::2], strict=True)), at + 1
        colon = self.buffer.index(b":", at)
        length = int(self.buffer[at:colon])
        end = colon + 1 + length
        if end > len(self.buffer):
            raise IndexError
        return self.buffer[colon + 1:end].decode(), end

    def receive(self, timeout: float):
        """The next reply, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message, used = self._decode(0)
                self.buffer = self.buffer[used:]
                return message
            except (IndexError, ValueError):
                if time.monotonic() >= deadline or not self._fill(deadline):
                    return None

    def until_done(self, msg_id: str, timeout: float = 60) -> list[dict]:
        replies = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self.receive(deadline - time.monotonic())
            if reply is None:
                break
            if reply.get("id") == msg_id:
                replies.append(reply)
                if "done" in reply.get("status", []):
                    return replies
        raise AssertionError(f"no done for {msg_id} within {timeout} s: {replies}")

    def eval(self, session: str, code: str, timeout: float = 60) -> list[dict]:
        return self.until_done(self.send(op="eval", session=session, code=code), timeout)

    def close(self):
        self.sock.close()


SETUP = """
(require '[cortex.bridge :as bridge] '[cortex.nn.layers :as layers])
(def net (bridge/load-model [(layers/input 4 1 1 :id :x) (layers/linear->relu 16)
                             (layers/linear 1 :id :y)] {:seed 1}))
(def data (vec (for [i (range 64)] {:x [(mod i 2) (mod i 3) (mod i 5) 1] :y [(mod i 2)]})))
(def epochs (atom 1000000))
:ready
"""

TRAIN = "(count (bridge/train! net data {:epochs @epochs :batch-size 8}))"


@pytest.fixture()
def client(clojure):
    port = repl.start_nrepl(port=0, port_file=None)
    connection = Client(port)
    yield connection
    connection.close()
    repl.stop_nrepl(port_file=None)


def test_interrupt_stops_training_and_the_same_eval_runs_again(client):
    session = client.until_done(client.send(op="clone"))[-1]["new-session"]
    assert any(r.get("value") == ":ready" for r in client.eval(session, SETUP))

    train_id = client.send(op="eval", session=session, code=TRAIN)
    deadline = time.monotonic() + 60
    while True:  # training runs: epoch lines arrive under the eval's id
        reply = client.receive(deadline - time.monotonic())
        assert reply is not None, "no epoch line within 60 s"
        if reply.get("id") == train_id and "epoch" in reply.get("out", ""):
            break
    began = time.monotonic()
    client.send(op="interrupt", session=session, **{"interrupt-id": train_id})
    statuses = []
    while "interrupted" not in statuses:
        reply = client.receive(2.5)
        assert reply is not None, f"no interrupted status within 2.5 s ({statuses})"
        if reply.get("id") == train_id:
            statuses += reply.get("status", [])
    assert time.monotonic() - began < 2.0

    # Nothing more for the interrupted eval: no epoch line, no value, no error.
    late = []
    quiet_until = time.monotonic() + 2.0
    while (reply := client.receive(max(0.01, quiet_until - time.monotonic()))) is not None:
        if reply.get("id") == train_id:
            late.append(reply)
        if time.monotonic() >= quiet_until:
            break
    assert late == []

    client.eval(session, "(reset! epochs 3)")
    replies = client.eval(session, TRAIN)
    assert [r["value"] for r in replies if "value" in r] == ["3"], replies
    assert not [r for r in replies if "eval-error" in r.get("status", [])]


HELLO_MIDDLEWARE = """
(ns cortex-bridge-test.hello
  (:require [nrepl.middleware :refer [set-descriptor!]]
            [nrepl.misc :refer [response-for]]
            [nrepl.transport :as t]))
(defn wrap-hello [handler]
  (fn [{:keys [op transport] :as msg}]
    (if (= op "cortex-hello")
      (t/send transport (response-for msg :status :done :hello "world"))
      (handler msg))))
(set-descriptor! #'wrap-hello {:expects #{"eval"} :handles {"cortex-hello" {}}})
"""


def test_sessions_get_the_aliases_and_extra_middleware_is_mounted(clojure):
    from bridge import jvm

    jvm.eval(HELLO_MIDDLEWARE)
    port = repl.start_nrepl(port=0, port_file=None,
                            middleware=["cortex-bridge-test.hello/wrap-hello"])
    client = Client(port)
    try:
        session = client.until_done(client.send(op="clone"))[-1]["new-session"]
        replies = client.eval(session, "[(str (ns-name *ns*)) (str (get (ns-aliases *ns*) 'nn))"
                                       " (str (get (ns-aliases *ns*) 'ds))]")
        assert [r["value"] for r in replies if "value" in r] == [
            '["user" "cortex.nn" "cortex.dataset"]']
        hello = client.until_done(client.send(op="cortex-hello", session=session))
        assert hello[-1].get("hello") == "world"
    finally:
        client.close()
        repl.stop_nrepl(port_file=None)


def test_middleware_must_be_a_qualified_symbol_on_the_classpath(clojure):
    from bridge.errors import ClojureError

    for wrong, message in (("wrap-hello", "qualified symbol"),
                           ("no.such.namespace/wrap", "no.such.namespace")):
        with pytest.raises(ClojureError, match=message):
            repl.start_nrepl(port=0, port_file=None, middleware=[wrong])
