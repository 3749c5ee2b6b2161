(ns cortex.optimize.sgd
  "Cortex's SGD with Nesterov momentum, as a map (cortex-spec §3.3).")

(defn- options
  "The options of `args`: one map, or keyword/value pairs."
  [args]
  (cond (and (= 1 (count args)) (map? (first args))) (first args)
        (even? (count args)) (apply hash-map args)
        :else (throw (ex-info (str "sgd options must be keyword/value pairs or one map. "
                                   "Received: " (pr-str (vec args)))
                              {:optimizer :sgd :args (vec args)}))))

(defn sgd
  "`(sgd & {:keys [learning-rate momentum]})`, defaults 0.001 and 0.9 (Cortex's
  `sgd.clj:74-80`); u = μu + ηg, θ += μu_old − (1 + μ)u, PyTorch's SGD with
  `nesterov=True`. A single map is taken as well as keyword/value pairs."
  [& args]
  (merge {:type :sgd :learning-rate 0.001 :momentum 0.9} (options args)))
