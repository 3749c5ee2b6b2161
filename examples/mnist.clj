;; The tutorial's program, as written, then run end to end:
;;   .venv/bin/cortex-bridge run examples/mnist.clj
;; It reads the four MNIST IDX files from $CORTEX_BRIDGE_MNIST or ~/.cortex/mnist.

(ns deep-learning-example.core
  (:require [cortex.dataset :as ds]
            [cortex.nn :as nn]
            [cortex.optimizers :as optim]))

(defn load-mnist []
  ;; Load and preprocess the MNIST dataset
  (let [train-data (ds/load-mnist :train)
        test-data (ds/load-mnist :test)]
    {:train train-data
     :test test-data}))

(defn create-model []
  ;; Define a simple neural network model
  (nn/sequential
    [(nn/input 784)          ;; Input layer with 784 neurons (28x28 pixels)
     (nn/dense 128)          ;; Hidden layer with 128 neurons
     (nn/relu)               ;; ReLU activation function
     (nn/dense 10)           ;; Output layer with 10 neurons (one for each digit)
     (nn/softmax)]))         ;; Softmax activation for classification

(defn train-model [model train-data]
  ;; Train the model using SGD
  (let [optimizer (optim/sgd :learning-rate 0.01)]
    (nn/train model train-data optimizer
              :epochs 10
              :batch-size 32)))

(defn evaluate-model [model test-data]
  ;; Evaluate the model on the test dataset
  (let [accuracy (nn/evaluate model test-data)]
    (println "Test Accuracy:" accuracy)))

;; --- running it -------------------------------------------------------------------------

(let [{:keys [train test]} (load-mnist)
      model (create-model)]
  (evaluate-model (train-model model train) test))
