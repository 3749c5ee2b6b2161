;; Cortex's XOR example (examples/xor-mlp) through train-n:
;;   .venv/bin/cortex-bridge run examples/xor.clj
(ns xor-mlp.core
  (:require [cortex.experiment.train :as experiment-train]
            [cortex.nn.execute :as execute]
            [cortex.nn.layers :as layers]
            [cortex.optimize.sgd :as sgd]))

(def xor-dataset
  [{:x [0.0 0.0] :y [0.0]}
   {:x [0.0 1.0] :y [1.0]}
   {:x [1.0 0.0] :y [1.0]}
   {:x [1.0 1.0] :y [0.0]}])

(def nn-description
  [(layers/input 2 1 1 :id :x)
   (layers/linear->tanh 10)
   (layers/linear 1 :id :y)])

(defn train-xor []
  (let [trained (experiment-train/train-n nn-description xor-dataset xor-dataset
                                          :batch-size 4
                                          :epoch-count 3000
                                          :optimizer (sgd/sgd :learning-rate 0.05)
                                          :network-filestem "out/xor-trained"
                                          :simple-loss-print? true)]
    (println "XOR after training:"
             (mapv (comp first :y) (execute/run trained xor-dataset)))))

(train-xor)
