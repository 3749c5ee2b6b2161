(ns cortex.dataset
  "Data sets for the tutorial: (load-mnist :train) and (load-mnist :test) read the four
  standard IDX files from $CORTEX_BRIDGE_MNIST or ~/.cortex/mnist.

  Each is Cortex data held in bulk arrays: a counted, indexed, seqable collection of
  maps {:data [784 floats] :labels [10, one-hot]} (see cortex.bridge.bulk), which
  crosses to Python as one bulk copy per stream."
  (:require [clojure.string]
            [cortex.bridge.bulk :as bulk]
            [cortex.bridge.python :as py]))

(defn mnist-directory
  "Where load-mnist looks: $CORTEX_BRIDGE_MNIST, else ~/.cortex/mnist."
  []
  (let [configured (System/getenv "CORTEX_BRIDGE_MNIST")]
    (if (clojure.string/blank? configured)  ; unset or empty, as Python's loader reads it
      (str (System/getProperty "user.home") "/.cortex/mnist")
      configured)))

(defn- from-python [h]
  (try (bulk/from-python h) (finally (py/call :release h))))

(defn load-mnist
  "MNIST's :train or :test split: items {:data (784 values, p/255 − 0.5) :labels
  (one-hot of 10)}, in bulk arrays."
  ([split] (load-mnist split (mnist-directory)))
  ([split directory]
   (from-python (py/call :mnist (str directory) (name split)))))

(defn load-digits
  "scikit-learn's bundled 8x8 digits (:train or :test): items {:data (64) :labels
  (one-hot of 10)}, in bulk arrays."
  [split]
  (from-python (py/call :digits (name split))))
