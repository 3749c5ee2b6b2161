(ns cortex.nn
  "The tutorial's API: build with (sequential [(input 784) (dense 128) (relu) …]), then
  (train model data optimizer :epochs 10 :batch-size 32) and (evaluate model data)."
  (:require [cortex.bridge :as bridge]
            [cortex.nn.layers :as layers]))

(defn sequential
  "A network from a vector of layers, built at once."
  [layer-list]
  (bridge/load-model (vec (flatten (seq layer-list))) {:seed 0}))

(def input layers/input)
(defn dense "A fully connected layer: Cortex's linear." [n & args] (apply layers/linear n args))
(def linear layers/linear)
(def relu layers/relu)
(def softmax layers/softmax)
(def tanh layers/tanh)
(def logistic layers/logistic)
(def sigmoid layers/logistic)
(def swish layers/swish)
(def selu layers/selu)
(def prelu layers/prelu)
(def dropout layers/dropout)
(def convolutional layers/convolutional)
(def max-pooling layers/max-pooling)
(def batch-normalization layers/batch-normalization)

(defn- stream-map
  "The tutorial's data says :data and :label(s); a one-input, one-output network names its
  streams after its layers. Map them when the names differ."
  [model]
  (let [{:keys [inputs outputs]} (bridge/describe model)]
    (when (and (= 1 (count inputs)) (= 1 (count outputs)))
      {:data (first inputs) :labels (first outputs) :label (first outputs)})))

(defn- rename-items [model data]
  (let [mapping (stream-map model)]
    (if (or (instance? cortex.bridge.Dataset data) (nil? mapping))
      data
      (map (fn [item] (into {} (map (fn [[k v]] [(get mapping k k) v]) item))) data))))

(defn train
  "Train `model` on `data` with `optimizer`; returns the model, trained.
  Options: :epochs (default 10) :batch-size (default 32) and those of
  cortex.bridge/train!."
  [model data optimizer & {:as options}]
  (let [mapping (stream-map model)
        streams (when (instance? cortex.bridge.Dataset data)
                  (into {} (map (fn [[k v]] [(name k) (name v)]) (select-keys mapping [:data :labels]))))]
    (bridge/train! model (rename-items model data)
                   (cond-> (merge {:epochs 10 :batch-size 32} options {:optimizer optimizer})
                     (seq streams) (assoc :streams streams)))
    model))

(defn evaluate
  "The model's accuracy on `data` (a number between 0 and 1)."
  [model data]
  (let [mapping (stream-map model)
        streams (when (instance? cortex.bridge.Dataset data)
                  (into {} (map (fn [[k v]] [(name k) (name v)]) (select-keys mapping [:data :labels]))))
        result (bridge/evaluate model (rename-items model data)
                                (if (seq streams) {:streams streams} {}))]
    (:accuracy result (:loss result))))

(defn run [model data] (bridge/run model (rename-items model data)))
