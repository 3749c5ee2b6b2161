(ns cortex.optimize.adam
  "Cortex's Adam, as a map (cortex-spec §3.3).")

(defn- options
  "The options of `args`: one map, or keyword/value pairs."
  [args]
  (cond (and (= 1 (count args)) (map? (first args))) (first args)
        (even? (count args)) (apply hash-map args)
        :else (throw (ex-info (str "adam options must be keyword/value pairs or one map. "
                                   "Received: " (pr-str (vec args)))
                              {:optimizer :adam :args (vec args)}))))

(defn adam
  "`(adam & {:keys [alpha beta1 beta2 epsilon]})`, defaults 0.001, 0.9, 0.999 and 1e-8
  (Cortex's `adam.clj:192-200`); `:alpha` is the learning rate. A single map is taken as
  well as keyword/value pairs."
  [& args]
  (merge {:type :adam :alpha 0.001 :beta1 0.9 :beta2 0.999 :epsilon 1e-8} (options args)))
