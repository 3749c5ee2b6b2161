(ns cortex.experiment.train
  "Cortex's train-n: several epochs, evaluating on a held-out set after each and saving
  the best network (by its loss) to <network-filestem>.edn. Cortex called that set the
  test set; it chooses the network, so here it is the run's validation data."
  (:require [cortex.bridge :as bridge]
            [cortex.optimize.adam :as adam]))

(defn train-n
  "Train `network` (a network or a description) on `train-ds`, testing on `test-ds`.
  Options: :batch-size (128) :epoch-count (nil: until interrupted) :optimizer (adam)
  :network-filestem (\"trained-network\") :simple-loss-print?. Returns the network with
  the best test score."
  [network train-ds test-ds & {:keys [batch-size epoch-count optimizer network-filestem
                                      simple-loss-print?]
                               :or {batch-size 128 network-filestem "trained-network"}}]
  (let [net (if (bridge/network? network) network (bridge/load-model network))
        epochs (or epoch-count Integer/MAX_VALUE)
        history (bridge/train! net train-ds
                               {:validation test-ds :epochs epochs :batch-size batch-size
                                :optimizer (or optimizer (adam/adam)) :keep-best true
                                :progress false})]
    (when simple-loss-print?
      ;; the epoch whose network was kept, not a recount (ties would pick another)
      (let [kept (:best-epoch (meta history))
            best (or (first (filter #(= kept (:epoch %)) history))
                     (apply min-key :validation-loss (reverse history)))]
        (println (format "Loss for epoch %3d: (best) %.6f" (:epoch best)
                         (:validation-loss best)))))
    (bridge/save! net (str network-filestem ".edn"))
    net))
