(ns cortex.nn
  "The tutorial's API: build with (sequential [(input 784) (dense 128) (relu) …]), then
  (train model data optimizer :epochs 10 :batch-size 32) and (evaluate model data).
  The layer functions are cortex.nn.layers' own, under the tutorial's names."
  (:require [cortex.bridge :as bridge]
            [cortex.nn.layers :as layers]))

(defmacro ^:private defalias
  "(def name target), with target's :doc and :arglists (or `doc`)."
  ([name target] `(defalias ~name ~target nil))
  ([name target doc]
   (let [m (meta (resolve target))]
     `(def ~(vary-meta name assoc
                       :doc (or doc (:doc m) (str "The same as " target "."))
                       :arglists (list 'quote (:arglists m)))
        ~target))))

(defn sequential
  "A network from a vector of layers (nested vectors flatten), built at once with seed 0."
  [layer-list]
  (bridge/load-model (vec (flatten (seq layer-list))) {:seed 0}))

(defalias input layers/input)
(defn dense
  "A fully connected layer of `n` outputs: Cortex's linear (same options)."
  [n & args]
  (apply layers/linear n args))
(defalias linear layers/linear)
(defalias relu layers/relu)
(defalias softmax layers/softmax)
(defalias tanh layers/tanh)
(defalias logistic layers/logistic)
(defalias sigmoid layers/logistic "The logistic function (Cortex's name: logistic).")
(defalias swish layers/swish)
(defalias selu layers/selu)
(defalias prelu layers/prelu)
(defalias dropout layers/dropout)
(defalias convolutional layers/convolutional)
(defalias max-pooling layers/max-pooling)
(defalias batch-normalization layers/batch-normalization)

;; The tutorial's data says :data and :label(s) while a one-input, one-output network
;; names its streams after its layers; Python maps the one onto the other, for every door
;; alike (bridge.training.data/conventional_streams), so nothing here renames streams.

(defn train
  "Train `model` on `data` with `optimizer`; returns the model, trained (in place).
  Options: :epochs (default 10) :batch-size (default 32) and those of
  cortex.bridge/train! (:log, :progress, :seed, :test …)."
  [model data optimizer & {:as options}]
  (bridge/train! model data (merge {:epochs 10 :batch-size 32} options {:optimizer optimizer}))
  model)

(defn evaluate
  "The model's accuracy on `data` (a number between 0 and 1; the loss when the network
  has no classification output)."
  [model data]
  (let [result (bridge/evaluate model data {})]
    (:accuracy result (:loss result))))

(defn run
  "Outputs for every item of `data`: a vector of {output-id [values …]} maps.
  Options: :batch-size."
  [model data & {:as options}]
  (bridge/run model data (or options {})))
