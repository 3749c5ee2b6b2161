"""What every saved network file shares: the format version and the header's keys.

The format version is written as ``:cortex-bridge/format`` and checked on load; a file
from a newer format is refused with a message to upgrade.
"""

from bridge.edn.types import Keyword

__all__ = ["FORMAT_VERSION", "FORMAT_KEY", "DESCRIPTION_KEY", "HEADER_ORDER", "ENCODINGS",
           "CHECKSUM_KEY", "WRITTEN_BY_KEYS"]

FORMAT_VERSION = 1
FORMAT_KEY = Keyword("cortex-bridge/format")
DESCRIPTION_KEY = Keyword("description")
#: Header keys written in this order, before ``:description`` (which comes last, so a
#: reader sees the metadata without scrolling past megabytes of weights).
HEADER_ORDER = ("cortex-bridge/format", "cortex-bridge/version", "torch/version", "created",
                "name", "train", "history", "metrics")
#: Parameter encodings: ``tensor`` (tagged base64) and ``vector`` (nested EDN vectors).
ENCODINGS = ("tensor", "vector")
#: The whole-file CRC-32, written last before ``:description`` (see saving/integrity.py).
CHECKSUM_KEY = "cortex-bridge/crc32"
#: Header keys only a saved network has (a model description written by hand has none):
#: any one of them makes the file's parameters and keys checked strictly on load.
WRITTEN_BY_KEYS = ("cortex-bridge/version", "torch/version", "created", CHECKSUM_KEY)
