"""Networks in and out of files: EDN model files and saved networks (:mod:`.load`,
:mod:`.save`, one format in :mod:`.format`, the checks a saved network must pass in
:mod:`.integrity`) and ONNX for deployment (:mod:`.onnx`)."""

from bridge.saving.format import ENCODINGS, FORMAT_VERSION
from bridge.saving.load import load_model, load_network, network_from_edn
from bridge.saving.save import network_to_edn, save_network

__all__ = ["load_model", "load_network", "network_from_edn", "network_to_edn",
           "save_network", "FORMAT_VERSION", "ENCODINGS"]
