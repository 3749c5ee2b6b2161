(ns cortex.optimizers
  "The tutorial's optimizer constructors, as plain maps with every default written in
  (cortex-spec §3.3): `(sgd :learning-rate 0.01)` gives
  `{:type :sgd :learning-rate 0.01 :momentum 0.9}`. `sgd`, `adam` and `adadelta` are
  Cortex's own (`cortex.optimize.*`); `adamw`, `rmsprop` and `adagrad` are PyTorch's,
  under the option names and defaults `bridge/training/optimizers.py` uses. Each takes
  keyword/value pairs or one map."
  (:require [cortex.optimize.adadelta :as adadelta]
            [cortex.optimize.adam :as adam]
            [cortex.optimize.sgd :as sgd]))

(def ^{:arglists '([& {:keys [learning-rate momentum]}])
       :doc "Cortex's SGD with Nesterov momentum; defaults 0.001 and 0.9."}
  sgd sgd/sgd)

(def ^{:arglists '([& {:keys [alpha beta1 beta2 epsilon]}])
       :doc "Cortex's Adam; `:alpha` is the learning rate; defaults 0.001 0.9 0.999 1e-8."}
  adam adam/adam)

(def ^{:arglists '([& {:keys [decay epsilon]}])
       :doc "Cortex's Adadelta; defaults 0.05 and 1e-6."}
  adadelta adadelta/adadelta)

(defn- with-defaults [optimizer defaults args]
  (merge (assoc defaults :type optimizer)
         (cond (and (= 1 (count args)) (map? (first args))) (first args)
               (even? (count args)) (apply hash-map args)
               :else (throw (ex-info (str (name optimizer) " options must be keyword/value "
                                          "pairs or one map. Received: " (pr-str (vec args)))
                                     {:optimizer optimizer :args (vec args)})))))

(defn adamw
  "`(adamw & {:keys [learning-rate beta1 beta2 epsilon weight-decay]})`, defaults 0.001,
  0.9, 0.999, 1e-8 and 0.01 (PyTorch's AdamW)."
  [& args]
  (with-defaults :adamw {:learning-rate 0.001 :beta1 0.9 :beta2 0.999 :epsilon 1e-8
                         :weight-decay 0.01} args))

(defn rmsprop
  "`(rmsprop & {:keys [learning-rate rho epsilon momentum]})`, defaults 0.01, 0.99, 1e-8
  and 0 (PyTorch's RMSprop, whose `alpha` is `:rho` here)."
  [& args]
  (with-defaults :rmsprop {:learning-rate 0.01 :rho 0.99 :epsilon 1e-8 :momentum 0.0} args))

(defn adagrad
  "`(adagrad & {:keys [learning-rate epsilon]})`, defaults 0.01 and 1e-10 (PyTorch's
  Adagrad)."
  [& args]
  (with-defaults :adagrad {:learning-rate 0.01 :epsilon 1e-10} args))
