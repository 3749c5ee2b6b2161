(ns cortex.nn.layers
  "Cortex's layer constructors (cortex-spec §1): pure data, the same maps Cortex built.
  Each returns a vector of node maps; trailing keyword/value pairs are merged into the
  map; descriptions are flattened when a network is built. Nothing here calls Python.")

(defn- merge-args
  "Cortex's merge-args: `m` with the keyword/value pairs of `args` merged in."
  [m args]
  (when (odd? (count args))
    (throw (ex-info "Layer options must be keyword/value pairs" {:node m :options args})))
  (merge m (apply hash-map args)))

(defn- check-positive [node k]
  (let [v (get node k)]
    (when-not (and (integer? v) (pos? v))
      (throw (ex-info (str k " must be a positive integer, got " (pr-str v))
                      {:node node :key k :value v})))))

(defn input
  "(input width), (input {:width W :height H :channels C}) or (input width height
  channels & kvs). Note Cortex's positional order: width, height, channels."
  ([width-or-map]
   (let [m (if (map? width-or-map) width-or-map {:width width-or-map})
         {:keys [width height channels] :or {height 1 channels 1}} m]
     (when-not width (throw (ex-info "input needs a :width" {:args m})))
     [(merge {:type :input :output-size (* width height channels) :output-width width
              :output-height height :output-channels channels}
             m)]))
  ([width height channels & args]
   [(merge-args {:type :input :output-size (* width height channels) :output-width width
                 :output-height height :output-channels channels}
                args)]))

(defn linear
  "(linear output-size & kvs) or (linear {:output-size n})."
  [num-output & args]
  (if (map? num-output)
    [(assoc num-output :type :linear)]
    [(merge-args {:type :linear :output-size num-output} args)]))

(defn- window [type kernel-dim pad stride extra args]
  (merge-args (merge {:type type :kernel-width kernel-dim :kernel-height kernel-dim
                      :pad-x pad :pad-y pad :stride-x stride :stride-y stride
                      :kernel-dim kernel-dim :pad pad :stride stride}
                     extra)
              args))

(defn convolutional
  "(convolutional kernel-dim pad stride num-kernels & kvs) or the map arity."
  ([{:keys [kernel-dim pad stride num-kernels] :as m}]
   [(merge (first (convolutional kernel-dim pad stride num-kernels)) m)])
  ([kernel-dim pad stride num-kernels & args]
   (when (or (< stride 1) (< kernel-dim 1))
     (throw (ex-info "Convolutional layers must have stride >= 1 and kernel-dim >= 1"
                     {:kernel-dim kernel-dim :stride stride})))
   [(window :convolutional kernel-dim pad stride
            {:num-kernels num-kernels :dimension-op :floor} args)]))

(defn max-pooling
  "(max-pooling kernel-dim pad stride & kvs) or the map arity; :pool-op :max (default),
  :avg or :avg-exc-pad."
  ([{:keys [kernel-dim pad stride] :as m}]
   [(merge (first (max-pooling kernel-dim pad stride)) m)])
  ([kernel-dim pad stride & args]
   (let [node (window :max-pooling kernel-dim pad stride
                      {:num-kernels 0 :dimension-op :ceil :pool-op :max} args)]
     (when-not (#{:max :avg :avg-exc-pad} (:pool-op node))
       (throw (ex-info "Max pooling layers have three possible pool operations:"
                       {:possible-operation-set #{:max :avg :avg-exc-pad}
                        :pool-op (:pool-op node)})))
     [node])))

(defn convolutional-type-layer
  "Non-square windows: (convolutional-type-layer type kw kh pad-x pad-y stride-x stride-y
  num-kernels dimension-op & kvs). Returns a bare map, as Cortex does."
  [layer-type kernel-width kernel-height pad-x pad-y stride-x stride-y num-kernels
   dimension-op & args]
  (merge-args {:type layer-type :kernel-width kernel-width :kernel-height kernel-height
               :pad-x pad-x :pad-y pad-y :stride-x stride-x :stride-y stride-y
               :num-kernels num-kernels :dimension-op dimension-op}
              args))

(defn dropout
  "(dropout keep-probability & kvs): keeps each value with that probability."
  [probability & args]
  (if (map? probability)
    [(merge {:type :dropout :distribution :bernoulli} probability)]
    [(merge-args {:type :dropout :distribution :bernoulli :probability probability} args)]))

(defn multiplicative-dropout
  "(multiplicative-dropout variance & kvs): Gaussian noise N(1, variance)."
  [variance & args]
  (if (map? variance)
    [(merge {:type :dropout :distribution :gaussian} variance)]
    [(merge-args {:type :dropout :distribution :gaussian :variance variance} args)]))

(defn- keyword-layer [type args] [(merge-args {:type type} args)])

(defn relu [& args] (keyword-layer :relu args))
(defn logistic [& args] (keyword-layer :logistic args))
(defn tanh [& args] (keyword-layer :tanh args))
(defn swish [& args] (keyword-layer :swish args))
(defn selu [& args] (keyword-layer :selu args))
(defn prelu [& args] (keyword-layer :prelu args))
(defn softmax
  "(softmax & {:keys [output-channels]})"
  [& args] (keyword-layer :softmax args))
(defn concatenate [& args] (keyword-layer :concatenate args))
(defn split [& args] (keyword-layer :split args))

(defn join
  "(join & kvs) with :operation :+ (default) or :*; a bare map, as in Cortex."
  [& args]
  (merge-args {:type :join :operation :+} args))

(defn batch-normalization
  "(batch-normalization & {:keys [ave-factor epsilon mode]}), defaults 0.9, 1e-4,
  :elementwise."
  [& args]
  (let [{:keys [ave-factor epsilon mode] :or {ave-factor 0.9 epsilon 1e-4 mode :elementwise}
         :as opts} (apply hash-map args)]
    (when (< epsilon 1e-5)
      (throw (ex-info "batch-normalization minimum epsilon is 1e-5" {:epsilon epsilon})))
    (when-not (#{:elementwise :spatial} mode)
      (throw (ex-info "batch-normalization :mode must be :elementwise or :spatial" {:mode mode})))
    [(merge {:type :batch-normalization :average-factor ave-factor :epsilon epsilon :mode mode}
            (dissoc opts :epsilon))]))

(defn local-response-normalization
  "(local-response-normalization & {:keys [k n alpha beta]}), defaults 2, 5, 1e-4, 0.75."
  [& args]
  [(merge {:type :local-response-normalization :k 2 :n 5 :alpha 1e-4 :beta 0.75}
          (apply hash-map args))])

(defn- linear-then [activation num-output args]
  (let [opts (apply hash-map args)
        shared (dissoc opts :id)]
    [(merge {:type :linear :output-size num-output} shared)
     (merge {:type activation} opts)]))

(defn linear->softmax [num-output & args] (linear-then :softmax num-output args))
(defn linear->relu [num-output & args] (linear-then :relu num-output args))
(defn linear->swish [num-output & args] (linear-then :swish num-output args))
(defn linear->selu [num-output & args] (linear-then :selu num-output args))
(defn linear->tanh [num-output & args] (linear-then :tanh num-output args))
(defn linear->logistic [num-output & args] (linear-then :logistic num-output args))
