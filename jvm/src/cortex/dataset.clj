(ns cortex.dataset
  "Data sets for the tutorial: (load-mnist :train) and (load-mnist :test) read the four
  standard IDX files from $CORTEX_BRIDGE_MNIST or ~/.cortex/mnist."
  (:require [clojure.string]
            [cortex.bridge :as bridge]
            [cortex.bridge.python :as py]))

(defn mnist-directory []
  (let [configured (System/getenv "CORTEX_BRIDGE_MNIST")]
    (if (clojure.string/blank? configured)  ; unset or empty, as Python's loader reads it
      (str (System/getProperty "user.home") "/.cortex/mnist")
      configured)))

(defn load-mnist
  "MNIST's :train or :test split as a dataset with streams :data (784 values, p/255 − 0.5)
  and :labels (class indices)."
  ([split] (load-mnist split (mnist-directory)))
  ([split directory]
   (let [h (py/call :mnist (str directory) (name split))]
     (bridge/python-dataset h))))

(defn load-digits
  "scikit-learn's bundled 8x8 digits (:train or :test): streams :data (64) and :labels."
  [split]
  (let [h (py/call :digits (name split))]
    (bridge/python-dataset h)))
