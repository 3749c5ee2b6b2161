(ns cortex.optimize.adam "Cortex's Adam, as a map.")

(defn adam
  "(adam & {:keys [alpha beta1 beta2 epsilon]}), defaults 0.001 0.9 0.999 1e-8."
  [& args]
  (merge {:type :adam :alpha 0.001 :beta1 0.9 :beta2 0.999 :epsilon 1e-8} (apply hash-map args)))
