(ns cortex.optimize.sgd "Cortex's SGD with Nesterov momentum, as a map.")

(defn sgd
  "(sgd & {:keys [learning-rate momentum]}), defaults 0.001 and 0.9."
  [& args]
  (merge {:type :sgd :learning-rate 0.001 :momentum 0.9} (apply hash-map args)))
