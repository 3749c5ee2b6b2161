"""cortex.bridge/import-onnx (and import-network) from Clojure, through the hosted JVM."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch import nn

pytest.importorskip("onnx")


def test_import_onnx_from_clojure(tmp_path):
    from bridge import jvm

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 1, 4, 4), buffer, dynamo=False,
                          input_names=["data"], output_names=["scores"])
    path = tmp_path / "m.onnx"
    path.write_bytes(buffer.getvalue())
    jvm.start()
    jvm.eval("(require 'cortex.bridge)")
    text = jvm.eval(f'(cortex.bridge/summary (cortex.bridge/import-onnx "{path}"))')
    assert ":data" in text and ":convolutional-1" in text and ":scores" in text
    with pytest.raises(Exception, match="cannot import .txt"):
        jvm.eval(f'(cortex.bridge/import-network "{tmp_path / "m.txt"}")')


def test_from_the_repl_import_remove_the_head_append_freeze_train_and_reload(tmp_path):
    """The issue's "done when", from Clojure: an imported ONNX network loses its head,
    gets a new one, the rest is frozen, it trains, and the saved EDN reloads frozen."""
    from bridge import jvm

    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 4), buffer, dynamo=False,
                          input_names=["data"], output_names=["scores"])
    onnx_path, saved = tmp_path / "m.onnx", tmp_path / "tuned.edn"
    onnx_path.write_bytes(buffer.getvalue())
    jvm.start()
    result = jvm.eval(f"""
      (do (require '[cortex.bridge :as b] '[cortex.nn.layers :as layers]
                   '[cortex.nn.network :as network])
          (let [net (b/import-onnx "{onnx_path}")
                first-linear (:id (second (:layers net)))
                head (:id (last (:layers net)))
                tuned (-> net
                          (network/dissoc-layers-from-network head)
                          network/freeze-layers
                          (network/assoc-layers-to-network
                            [(layers/linear 2 :id :new-head) (layers/softmax :id :labels)]))
                before (vec (get-in (b/weights tuned {{:as :vectors}}) [first-linear :weights]))
                data (vec (for [i (range 40)] {{:data [(mod i 2) 1 0 (mod i 3)]
                                                :labels (if (even? i) [1 0] [0 1])}}))]
            (b/train! tuned data {{:epochs 2 :batch-size 8 :log nil :seed 0}})
            (b/save! tuned "{saved}")
            (let [again (b/load-model "{saved}")]
              (pr-str [(= before (vec (get-in (b/weights tuned {{:as :vectors}})
                                              [first-linear :weights])))
                       (mapv :id (:layers tuned))
                       (:non-trainable? (first (filter #(= first-linear (:id %))
                                                       (:description again))))]))))""")
    from bridge.edn import loads

    unchanged, ids, frozen = loads(str(result))
    assert unchanged is True  # the frozen (imported) layer did not move while training
    assert [str(i) for i in ids][-2:] == [":new-head", ":labels"]
    assert frozen is True  # the saved EDN reloads with :non-trainable? true
