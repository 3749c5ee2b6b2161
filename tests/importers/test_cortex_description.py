"""The thawed-network → description step of the Cortex importer, without a JVM: graph
data as the Clojure side hands it over (EDN text, buffers as arrays)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bridge
from bridge.edn import loads
from bridge.edn.types import Keyword
from bridge.errors import ModelError
from bridge.importers.cortex import cortex_description

GRAPH = """
{:nodes {:in {:type :input :id :in :output-size 2 :output-width 2 :output-height 1
              :output-channels 1 :input {:stream :in}}
         :fc {:type :linear :id :fc :output-size 2 :weights {:buffer-id :w}
              :bias {:buffer-id :b :learning-attenuation 0.5}}
         :sm {:type :softmax :id :sm}
         :mse-loss-1 {:type :mse-loss :id :mse-loss-1 :lambda 0.5
                      :output {:type :node-output :node-id :fc}
                      :labels {:type :stream :stream :fc}}
         :softmax-loss-1 {:type :softmax-loss :id :softmax-loss-1
                          :output {:type :node-output :node-id :sm}
                          :labels {:type :stream :stream :sm}}}
 :edges [[:in :fc] [:fc :sm] [:fc :mse-loss-1] [:sm :softmax-loss-1]]
 :buffers {:w {:array 0 :shape [2 2]} :b {:array 1 :shape [2]}}}"""


def test_losses_parents_and_buffers():
    arrays = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 10.0])]
    description = cortex_description(loads(GRAPH), arrays)
    net = bridge.load_model(description).eval()
    assert [(layer.id, list(layer.parents)) for layer in net.layers] == [
        ("in", []), ("fc", ["in"]), ("sm", ["fc"])]
    fc = net.layers[1].node
    assert fc["mse-loss"][Keyword("lambda")] == 0.5  # not a leaf's default: kept as a key
    assert "softmax-loss" not in net.layers[2].node  # the leaf's default: dropped
    assert fc["bias"]["learning-attenuation"] == 0.5  # parameter options survive
    logits = torch.tensor([[5.0, 21.0]])
    torch.testing.assert_close(net(torch.tensor([[1.0, 2.0]])), logits.softmax(1))


def test_a_cycle_is_refused():
    data = loads("{:nodes {:a {:type :relu} :b {:type :relu}} :edges [[:a :b] [:b :a]]}")
    with pytest.raises(ModelError, match="cycle"):
        cortex_description(data, [])
