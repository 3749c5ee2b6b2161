"""EDN for cortex-bridge: a strict reader with positions, a writer Clojure reads back,
and the ``#cortex-bridge/tensor`` literal. Imports nothing above :mod:`bridge.errors`.

    >>> from bridge.edn import loads, dumps, Keyword
    >>> data = loads("{:type :linear :output-size 10}")
    >>> data[Keyword("output-size")], data.key_positions[Keyword("type")]
    (10, (1, 2))
    >>> dumps([1.0, -0.0, float("nan")])
    '[1.0 -0.0 ##NaN]'
"""

from bridge.edn.reader import loads, loads_all
from bridge.edn.tensor_tag import (
    TENSOR_TAG,
    decode_tensor,
    encode_tensor,
    tensor_readers,
    vector_decode,
    vector_encode,
)
from bridge.edn.types import Char, EdnList, EdnMap, Keyword, Symbol, Tagged, Vector
from bridge.edn.writer import dumps

__all__ = [
    "loads",
    "loads_all",
    "dumps",
    "Keyword",
    "Symbol",
    "Vector",
    "EdnList",
    "EdnMap",
    "Char",
    "Tagged",
    "TENSOR_TAG",
    "encode_tensor",
    "decode_tensor",
    "tensor_readers",
    "vector_encode",
    "vector_decode",
]
