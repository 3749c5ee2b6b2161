(ns cortex.nn.layers
  "Cortex's layer constructors (cortex-spec §1), as pure data.

  Descriptions are the canonical representation of layers: every constructor returns
  the node maps Cortex's own `cortex.nn.layers` returned. Most return a vector holding
  one map; `join` and `convolutional-type-layer` return a bare map, `linear->softmax` a
  vector of two maps and the other `linear->…` composites a sequence of two (§1.1).
  Trailing keyword/value pairs are merged into the node; `input`, `linear`, `dropout`,
  `multiplicative-dropout`, `convolutional` and `max-pooling` also take one map instead
  of positional arguments. A description is flattened when a network is built, so the
  nesting does not matter. Nothing here calls Python.

  Errors are ex-info: the message follows the project's template (`max-pooling :pool-op
  must be one of :max :avg :avg-exc-pad. Received: :pool-op :median`) and the data holds
  `:node` (the node as built so far, with its `:type` and any `:id`), `:key` and
  `:value`. Cortex checked less, and partly with bare asserts; where a check here goes
  beyond Cortex's, its docstring says so.")

;; --- helpers -----------------------------------------------------------------------

(defn- fail
  "Throw the ex-info of a bad `k` in `node`."
  [node k requirement]
  (let [v (get node k)]
    (throw (ex-info (str (name (:type node)) " " k " must be " requirement ". Received: "
                         k " " (pr-str v))
                    {:node node :key k :value v}))))

(defn- merge-args
  "`node` with the keyword/value pairs `args` merged in (Cortex's `merge-args`, §1.1)."
  [node args]
  (when (odd? (count args))
    (throw (ex-info (str (name (:type node)) " options must be keyword/value pairs. "
                         "Received: " (pr-str (vec args)))
                    {:node node :args (vec args)})))
  (merge node (apply hash-map args)))

(defn- natural? [v] (and (integer? v) (not (neg? v))))
(defn- positive? [v] (and (integer? v) (pos? v)))

(defn- check
  "`node` when `(pred (k node))` holds for every given key, else an ex-info."
  [node pred requirement & ks]
  (doseq [k ks :when (not (pred (get node k)))]
    (fail node k requirement))
  node)

(defn- check-map
  "`arg` when it is a map holding every key of `required`, else an ex-info."
  [layer-type arg required]
  (when-not (map? arg)
    (throw (ex-info (str (name layer-type) " takes positional arguments or one map. "
                         "Received: " (pr-str arg))
                    {:node {:type layer-type} :value arg})))
  (doseq [k required :when (nil? (get arg k))]
    (throw (ex-info (str (name layer-type) " needs " k " in its map; it has "
                         (pr-str (vec (keys arg))))
                    {:node (assoc arg :type layer-type) :key k})))
  arg)

;; --- input and linear (§1.2, §1.3) -------------------------------------------------

(defn- input-node [width height channels]
  (check {:type :input :width width :height height :channels channels}
         positive? "a positive integer" :width :height :channels)
  {:type :input :output-size (* width height channels) :output-width width
   :output-height height :output-channels channels})

(defn input
  "The network's input (§1.2): `(input width)`, `(input {:width W :height H
  :channels C})` or `(input width height channels & kvs)`. Cortex's positional order is
  width, height, channels; height and channels default to 1. The 1-argument and map
  forms merge their argument into the node, so `(input 784)` carries a stray
  `:width 784`, as in Cortex. Sizes must be positive integers (Cortex: only an assert
  that width is given)."
  ([width-or-map]
   (let [arg (if (map? width-or-map) width-or-map {:width width-or-map})
         {:keys [width height channels] :or {height 1 channels 1}} arg]
     [(merge (input-node width height channels) arg)]))
  ([width height channels & args]
   [(merge-args (input-node width height channels) args)]))

(defn linear
  "A fully connected layer (§1.3): `(linear output-size & kvs)` or
  `(linear {:output-size n ...})`; weights `[output-size input-size]`. `:output-size`
  must be a positive integer (Cortex: an assert that it is given)."
  [num-output & args]
  (let [node (if (map? num-output)
               num-output
               (merge-args {:type :linear :output-size num-output} args))]
    [(check (assoc node :type :linear) positive? "a positive integer" :output-size)]))

;; --- windows: convolution and pooling (§1.4, §1.5) ---------------------------------

(defn convolutional-type-layer
  "The node of a window layer with separate x and y sizes (§1.4):
  `(convolutional-type-layer layer-type kernel-width kernel-height pad-x pad-y stride-x
  stride-y num-kernels dimension-op & kvs)`. Returns a bare map, as Cortex does. Kernel
  and stride sizes below 1 throw, as in Cortex; pads and `num-kernels` must be
  non-negative integers (Cortex did not check)."
  [layer-type kernel-width kernel-height pad-x pad-y stride-x stride-y num-kernels
   dimension-op & args]
  (let [node {:type layer-type :kernel-width kernel-width :kernel-height kernel-height
              :pad-x pad-x :pad-y pad-y :stride-x stride-x :stride-y stride-y
              :num-kernels num-kernels :dimension-op dimension-op}]
    (check node positive? "a positive integer" :kernel-width :kernel-height :stride-x :stride-y)
    (check node natural? "a non-negative integer" :pad-x :pad-y :num-kernels)
    (merge-args node args)))

(defn- square-window
  "A window layer with a square kernel and symmetric pad and stride, carrying Cortex's
  redundant `:kernel-dim :pad :stride` keys."
  [layer-type kernel-dim pad stride num-kernels dimension-op]
  (-> {:type layer-type :kernel-dim kernel-dim :pad pad :stride stride}
      (check positive? "a positive integer" :kernel-dim :stride)
      (check natural? "a non-negative integer" :pad))
  (assoc (convolutional-type-layer layer-type kernel-dim kernel-dim pad pad stride stride
                                   num-kernels dimension-op)
         :kernel-dim kernel-dim :pad pad :stride stride))

(defn convolutional
  "A 2-d convolution (§1.4): `(convolutional kernel-dim pad stride num-kernels & kvs)` or
  a map with `:kernel-dim :pad :stride :num-kernels`. Output sizes floor
  (`:dimension-op :floor`); weights `[num-kernels (* kernel-dim kernel-dim channels)]`.
  `num-kernels` must be a positive integer."
  ([arg]
   (let [{:keys [kernel-dim pad stride num-kernels]}
         (check-map :convolutional arg [:kernel-dim :pad :stride :num-kernels])]
     [(-> (square-window :convolutional kernel-dim pad stride num-kernels :floor)
          (check positive? "a positive integer" :num-kernels)
          (merge arg)
          (assoc :dimension-op :floor))]))
  ([kernel-dim pad stride num-kernels & args]
   ;; As in Cortex, the map arity of the positional values merged with the options, so
   ;; `:stride 2` reaches :stride-x and :stride-y (checked against bridge.layers).
   (convolutional (dissoc (merge-args {:type :convolutional :kernel-dim kernel-dim :pad pad
                                       :stride stride :num-kernels num-kernels} args)
                          :type))))

(def ^:private pool-ops #{:max :avg :avg-exc-pad})

(defn- check-pool-op [node]
  (when-not (pool-ops (:pool-op node))
    (let [v (:pool-op node)]
      (throw (ex-info (str "max-pooling :pool-op must be one of :max :avg :avg-exc-pad. "
                           "Received: :pool-op " (pr-str v))
                      {:node node :key :pool-op :value v
                       :possible-operation-set pool-ops}))))
  node)

(defn max-pooling
  "Pooling (§1.5): `(max-pooling kernel-dim pad stride & kvs)` or a map with
  `:kernel-dim :pad :stride`. `:pool-op` is `:max` (default), `:avg` (padding counted)
  or `:avg-exc-pad`; output sizes ceil (`:dimension-op :ceil`, which kvs may override)."
  ([arg]
   (let [{:keys [kernel-dim pad stride]} (check-map :max-pooling arg [:kernel-dim :pad :stride])]
     [(-> (square-window :max-pooling kernel-dim pad stride 0 :ceil)
          (assoc :pool-op :max)
          (merge arg)
          check-pool-op)]))
  ([kernel-dim pad stride & args]
   ;; As in Cortex, the map arity of the positional values merged with the options.
   (max-pooling (dissoc (merge-args {:type :max-pooling :kernel-dim kernel-dim :pad pad
                                     :stride stride} args)
                        :type))))

;; --- dropout (§1.6) ----------------------------------------------------------------

(defn- probability? [v] (and (number? v) (< 0 v) (<= v 1)))
(defn- variance? [v] (and (number? v) (not (neg? v))))

(defn dropout
  "Bernoulli dropout (§1.6): `(dropout probability & kvs)` or `(dropout {:probability
  p})`, where p is the probability to KEEP a value (kept values are scaled by 1/p). p
  must be in (0, 1] (Cortex did not check)."
  [probability & args]
  (let [base {:type :dropout :distribution :bernoulli}
        node (if (map? probability)
               (merge base probability)
               (merge-args (assoc base :probability probability) args))]
    [(check node probability? "a number in (0, 1], the probability to keep a value"
            :probability)]))

(defn multiplicative-dropout
  "Gaussian dropout (§1.6): `(multiplicative-dropout variance & kvs)` or a map with
  `:variance`; values are multiplied by noise from N(1, variance), not rescaled. The
  variance must be a non-negative number (Cortex did not check)."
  [variance & args]
  (let [base {:type :dropout :distribution :gaussian}
        node (if (map? variance)
               (merge base variance)
               (merge-args (assoc base :variance variance) args))]
    [(check node variance? "a non-negative number" :variance)]))

;; --- activations (§1.7, §1.8) ------------------------------------------------------

(defn- keyword-layer [layer-type args] [(merge-args {:type layer-type} args)])

(defn relu "`(relu & kvs)`: max(x, 0) (§1.7)." [& args] (keyword-layer :relu args))
(defn logistic "`(logistic & kvs)`: the sigmoid (§1.7)." [& args] (keyword-layer :logistic args))
(defn tanh "`(tanh & kvs)` (§1.7)." [& args] (keyword-layer :tanh args))
(defn swish "`(swish & kvs)`: x·σ(x) (§1.7)." [& args] (keyword-layer :swish args))
(defn selu "`(selu & kvs)` (§1.7)." [& args] (keyword-layer :selu args))
(defn prelu
  "`(prelu & kvs)`: a learned slope for x < 0, per channel, `:neg-scale` initialised to
  0.25 (§1.7)."
  [& args] (keyword-layer :prelu args))

(defn softmax
  "`(softmax & {:keys [output-channels]})` (§1.8): over the whole sample after a flat
  layer, per pixel across channels after an image layer, or over groups of
  `:output-channels` contiguous values."
  [& args] (keyword-layer :softmax args))

;; --- normalisation (§1.9, §1.10) ---------------------------------------------------

(def ^:private bn-modes #{:elementwise :spatial})

(defn batch-normalization
  "`(batch-normalization & {:keys [ave-factor epsilon mode]})` (§1.9), defaults 0.9,
  1e-4 and `:elementwise` (one set of statistics per feature; `:spatial`, per channel).
  Returns `:average-factor`, `:epsilon` and `:mode` with the other options (a given
  `:ave-factor` stays too, as in Cortex). As in Cortex, an epsilon below 1e-5 and another
  mode throw."
  [& args]
  (let [opts (merge-args {:type :batch-normalization} args)
        {:keys [ave-factor epsilon mode] :or {ave-factor 0.9 epsilon 1e-4 mode :elementwise}} opts
        node (merge {:type :batch-normalization :average-factor ave-factor :epsilon epsilon
                     :mode mode}
                    (dissoc opts :epsilon))]
    (check node number? "a number" :average-factor :epsilon)
    (when (< epsilon 1e-5)
      (fail node :epsilon "at least 1e-5"))
    (when-not (bn-modes mode)
      (fail node :mode "one of :elementwise :spatial"))
    [node]))

(defn local-response-normalization
  "`(local-response-normalization & {:keys [k n alpha beta]})` (§1.10), across
  channels, defaults k 2, n 5, alpha 1e-4, beta 0.75."
  [& args]
  [(merge-args {:type :local-response-normalization :k 2 :n 5 :alpha 1e-4 :beta 0.75} args)])

;; --- graph layers (§1.11) ----------------------------------------------------------

(defn concatenate
  "`(concatenate & kvs)` with `:parents [...]` (§1.11): the parents' outputs, flattened,
  one after another in `:parents` order."
  [& args] (keyword-layer :concatenate args))

(defn split
  "`(split & kvs)` (§1.11): the input, once for each child."
  [& args] (keyword-layer :split args))

(defn join
  "`(join & kvs)` (§1.11) with `:operation :+` (default) or `:*`. Returns a bare map, as
  in Cortex. The operation is checked here (Cortex checked it when building)."
  [& args]
  (let [node (merge-args {:type :join :operation :+} args)]
    (when-not (#{:+ :*} (:operation node))
      (fail node :operation "one of :+ :*"))
    node))

;; --- composites (§1.12) ------------------------------------------------------------

(defn- without-id
  "`args` without the `:id` pair (Cortex's `seq-without-id`)."
  [args]
  (->> (partition 2 args) (remove #(= :id (first %))) (apply concat)))

(defn- linear-then
  "A linear node followed by `activation`; `:id` goes to the activation only, every
  other option to both (§1.12)."
  [layer-type activation num-output args]
  (when (odd? (count args))
    (throw (ex-info (str (name layer-type) " options must be keyword/value pairs. "
                         "Received: " (pr-str (vec args)))
                    {:node {:type layer-type} :args (vec args)})))
  (concat (apply linear num-output (without-id args)) (apply activation args)))

(defn linear->softmax
  "`(linear->softmax n & kvs)`: linear then softmax, as a vector (§1.12)."
  [num-output & args] (vec (linear-then :linear->softmax softmax num-output args)))

(defn linear->relu
  "`(linear->relu n & kvs)`: linear then relu (§1.12)."
  [num-output & args] (linear-then :linear->relu relu num-output args))

(defn linear->swish
  "`(linear->swish n & kvs)`: linear then swish (§1.12)."
  [num-output & args] (linear-then :linear->swish swish num-output args))

(defn linear->selu
  "`(linear->selu n & kvs)`: linear then selu (§1.12)."
  [num-output & args] (linear-then :linear->selu selu num-output args))

(defn linear->tanh
  "`(linear->tanh n & kvs)`: linear then tanh (§1.12)."
  [num-output & args] (linear-then :linear->tanh tanh num-output args))

(defn linear->logistic
  "`(linear->logistic n & kvs)`: linear then logistic (§1.12)."
  [num-output & args] (linear-then :linear->logistic logistic num-output args))

;; --- any registered layer type, through Python's registry ---------------------------

(defn- python-call
  "`cortex.bridge.python/call` when this JVM runs inside Python with its entry points
  installed, else nil. Resolved at run time, so this namespace loads and AOT-compiles in
  a plain JVM."
  []
  (when-let [installed? (some-> (find-ns 'cortex.bridge.python) (ns-resolve 'installed?))]
    (when (installed?) (ns-resolve 'cortex.bridge.python 'call))))

(defn layer
  "The call form `form-name` (a keyword) of any layer type in Python's registry:
  `(layer :gelu)`, `(layer :linear->gelu 3 :id :g)`, `(layer :my.ns/gated :size 4)`.
  Inside Python (`cortex-bridge repl`, `nrepl`, `run`) the registry builds the maps,
  so a type added with `bridge.register_layer` gets its own positional arguments,
  defaults and `linear->` composite, exactly as `(gelu)` in a model file. In a plain
  JVM it builds the keyword-only form `[{:type form-name & kvs}]`, and anything else
  throws."
  [form-name & args]
  (let [n (if (keyword? form-name) (subs (str form-name) 1) (str form-name))]
    (if-let [call (python-call)]
      (vec ((requiring-resolve 'clojure.edn/read-string)
            (call :construct-layer n (pr-str (vec args)))))
      (do (when (or (.contains ^String n "->") (and (seq args) (not (keyword? (first args)))))
            (throw (ex-info (str "(layer " (pr-str form-name) " ...) takes positional "
                                 "arguments only inside Python, which knows the type")
                            {:node {:type (keyword n)} :args (vec args)})))
          [(merge-args {:type (keyword n)} args)]))))

(defn intern-registered!
  "Give every call form of Python's layer registry that this namespace lacks a var
  here, calling `layer`: after `bridge.register_layer(\"gelu\", ..., linear_composite=True)`
  in Python, `(intern-registered!)` makes `(cortex.nn.layers/gelu)` and
  `(cortex.nn.layers/linear->gelu 3)` work. Existing vars are never replaced. Returns the
  names interned; in a plain JVM (no Python) none."
  []
  (if-let [call (python-call)]
    (vec (for [n ((requiring-resolve 'clojure.edn/read-string) (call :call-forms))
               :let [sym (symbol n)]
               :when (not (ns-resolve 'cortex.nn.layers sym))]
           (do (intern 'cortex.nn.layers
                       (with-meta sym {:doc (str "`(" n " & args)`, from Python's layer "
                                                 "registry (intern-registered!).")})
                       (fn [& args] (apply layer (keyword n) args)))
               n)))
    []))
