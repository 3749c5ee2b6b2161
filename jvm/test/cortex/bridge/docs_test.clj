(ns cortex.bridge.docs-test
  "Every public var of the door's and Cortex's namespaces has a docstring, and every
  public function its arglists (what `doc` and editors show)."
  (:require [clojure.test :refer [deftest is]]))

(def namespaces
  '[cortex.bridge cortex.nn cortex.dataset cortex.optimizers cortex.nn.layers
    cortex.nn.network cortex.nn.execute cortex.experiment.train cortex.optimize.adam
    cortex.optimize.sgd cortex.optimize.adadelta cortex.bridge.edn cortex.bridge.tensor
    cortex.bridge.repl cortex.bridge.bulk cortex.bridge.pack cortex.bridge.python])

(deftest every-public-var-is-documented
  (apply require namespaces)
  (doseq [ns-sym namespaces
          [sym v] (ns-publics ns-sym)
          :let [m (meta v)]]
    (is (seq (:doc m)) (str ns-sym "/" sym " has no docstring"))
    (when (and (fn? @v) (not (:macro m)) (not (instance? clojure.lang.IDeref @v)))
      (is (seq (:arglists m)) (str ns-sym "/" sym " has no arglists")))))
