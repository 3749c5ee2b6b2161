(ns cortex.optimize.adadelta "Cortex's Adadelta, as a map.")

(defn adadelta
  "(adadelta & {:keys [decay epsilon]}), defaults 0.05 and 1e-6."
  [& args]
  (merge {:type :adadelta :decay 0.05 :epsilon 1e-6} (apply hash-map args)))
