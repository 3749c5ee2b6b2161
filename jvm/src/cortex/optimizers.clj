(ns cortex.optimizers
  "The tutorial's optimizer constructors: plain maps with Cortex's defaults."
  (:require [cortex.optimize.adadelta :as adadelta]
            [cortex.optimize.adam :as adam]
            [cortex.optimize.sgd :as sgd]))

(def sgd sgd/sgd)
(def adam adam/adam)
(def adadelta adadelta/adadelta)

(defn adamw [& args]
  (merge {:type :adamw :learning-rate 0.001 :weight-decay 0.01} (apply hash-map args)))

(defn rmsprop [& args]
  (merge {:type :rmsprop :learning-rate 0.01} (apply hash-map args)))

(defn adagrad [& args]
  (merge {:type :adagrad :learning-rate 0.01} (apply hash-map args)))
