(ns cortex.nn.execute
  "Cortex's execute namespace: one training pass and inference."
  (:require [cortex.bridge :as bridge]
            [cortex.optimize.adam :as adam]))

(defn train
  "One pass over `dataset` (Cortex's defaults: batch 10, Adam); returns
  {:network network :optimizer optimizer}."
  [network dataset & {:keys [batch-size optimizer] :or {batch-size 10}}]
  (let [optimizer (or optimizer (adam/adam))]
    (bridge/train! network dataset {:epochs 1 :batch-size batch-size :optimizer optimizer})
    {:network network :optimizer optimizer}))

(defn run
  "Outputs per item: a vector of {output-id [values…]} maps."
  [network dataset & {:keys [batch-size]}]
  (bridge/run network dataset))
