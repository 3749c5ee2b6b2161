(ns cortex.nn.network
  "Cortex's network namespace: build a network from a description."
  (:require [cortex.bridge :as bridge]))

(defn linear-network
  "Build a network from a description (a vector of layer maps; nested vectors flatten)."
  [description]
  (bridge/load-model description))

(defn print-layer-summary
  "Print the layer table."
  [network & _]
  (println (bridge/summary network)))
