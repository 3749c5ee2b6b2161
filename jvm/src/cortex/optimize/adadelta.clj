(ns cortex.optimize.adadelta
  "Cortex's Adadelta, as a map (cortex-spec §3.3).")

(defn- options
  "The options of `args`: one map, or keyword/value pairs."
  [args]
  (cond (and (= 1 (count args)) (map? (first args))) (first args)
        (even? (count args)) (apply hash-map args)
        :else (throw (ex-info (str "adadelta options must be keyword/value pairs or one map. "
                                   "Received: " (pr-str (vec args)))
                              {:optimizer :adadelta :args (vec args)}))))

(defn adadelta
  "`(adadelta & {:keys [decay epsilon]})`, defaults 0.05 and 1e-6 (Cortex's
  `adadelta.clj:126-132`); `:decay` weights the new squared gradient, so it is PyTorch's
  1 − rho. A single map is taken as well as keyword/value pairs."
  [& args]
  (merge {:type :adadelta :decay 0.05 :epsilon 1e-6} (options args)))
