(ns cortex.nn.execute
  "Cortex's execute namespace: one training pass and inference. As in Cortex, train
  returns the trained network and leaves its argument as it was (it trains a copy);
  cortex.bridge/train! is the in-place path."
  (:require [cortex.bridge :as bridge]
            [cortex.optimize.adam :as adam]))

(defn train
  "One pass over `dataset` (Cortex's defaults: batch 10, Adam) on a copy of `network`;
  returns the trained copy. Options: :batch-size :optimizer, and any of
  cortex.bridge/train!'s (:log, :progress, :seed …)."
  [network dataset & {:keys [batch-size optimizer] :or {batch-size 10} :as options}]
  (let [trained (bridge/clone network)]
    (bridge/train! trained dataset
                   (merge {:progress false} (dissoc options :batch-size :optimizer)
                          {:epochs 1 :batch-size batch-size
                           :optimizer (or optimizer (adam/adam))}))
    trained))

(defn run
  "Outputs per item: a vector of {output-id [values…]} maps. Options: :batch-size."
  [network dataset & {:keys [batch-size]}]
  (bridge/run network dataset (if batch-size {:batch-size batch-size} {})))
