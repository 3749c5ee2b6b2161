(ns cortex.bridge
  "Cortex networks on PyTorch, from Clojure.

    (require '[cortex.bridge :as bridge] '[cortex.nn.layers :as layers])
    (def net (bridge/load-model [(layers/input 2 1 1 :id :x)
                                 (layers/linear->tanh 10)
                                 (layers/linear 1 :id :y)]))
    (bridge/train! net [{:x [0 0] :y [0]} {:x [0 1] :y [1]} {:x [1 0] :y [1]} {:x [1 1] :y [0]}]
                   {:epochs 300 :batch-size 4 :optimizer {:type :sgd :learning-rate 0.1}})
    (bridge/run net [{:x [1 0]}])       ;=> [{:y [0.97…]}]
    (bridge/weights net)                ;=> {:linear-1 {:weights {:shape [10 2] :data #object[\"[F\" …]} …}}
    (bridge/save! net \"xor.edn\")

  Networks live in the Python process; a Network holds a handle to one, prints as its
  layer table, looks up :layers :inputs :outputs :description, and datafies (with nav to
  each layer's parameters and to the weights). Its Python side is freed by release! or
  when the Network is collected. One call runs per network at a time (another thread's
  call fails with {:cortex.bridge/error :busy}, or waits with :wait true); train!,
  evaluate and run stop after the current step when their thread is interrupted (nREPL
  interrupt, Ctrl-C in `cortex-bridge repl`, future-cancel) and throw
  {:cortex.bridge/error :interrupted}. Data crosses in one bulk copy per stream, packed
  once per value (cortex.bridge.pack)."
  (:require [clojure.core.protocols :as p]
            [clojure.edn :as edn]
            [cortex.bridge.edn :as bridge-edn]
            [cortex.bridge.pack :as pack]
            [cortex.bridge.python :as py]))

(def readers "EDN readers for #cortex-bridge/tensor." bridge-edn/readers)

(defonce ^{:dynamic true :doc "The nREPL server started by `cortex-bridge nrepl`."}
  *nrepl-server* nil)

(defn- read-edn [s] (edn/read-string {:readers readers} (str s)))

(defn- ->edn-text
  "Clojure data as EDN text Python reads: no namespace-map syntax, no *print-length*."
  [x]
  (binding [*print-namespace-maps* false *print-length* nil *print-level* nil
            *print-meta* false]
    (pr-str x)))

(declare describe description)

(defn- lazy-entry
  "A map entry of `x` whose value is looked up only when asked for: `keys` of a network
  fetches nothing (its :description is a whole saved network)."
  [^clojure.lang.ILookup x k]
  (reify
    clojure.lang.IMapEntry
    (key [_] k)
    (val [_] (.valAt x k))
    java.util.Map$Entry
    (getKey [_] k)
    (getValue [_] (.valAt x k))
    Object
    (toString [_] (str [k '…]))))

(def ^:private network-keys [:handle :layers :inputs :outputs :parameter-count :description])

;; `state` is an atom {:cleanable … :released? … :describe … :summary …}: the Cleanable
;; needs the object it watches, so it cannot be a constructor argument.
(deftype Network [^long handle state]
  clojure.lang.ILookup
  (valAt [this k] (.valAt this k nil))
  (valAt [this k not-found]
    (case k
      :handle handle
      (:layers :inputs :outputs :input-sizes :output-sizes :parameter-count)
      (get (describe this) k not-found)
      :description (description this)
      not-found))
  clojure.lang.Seqable
  (seq [this] (seq (map #(lazy-entry this %) network-keys)))
  Object
  (toString [_] (str "#cortex.bridge/network " handle)))

(deftype Dataset [^long handle ^long n state]
  clojure.lang.Counted
  (count [_] n)
  clojure.lang.ILookup
  (valAt [this k] (.valAt this k nil))
  (valAt [_ k not-found]
    (case k :handle handle :count n not-found))
  Object
  (toString [_] (str "#cortex.bridge/dataset " handle " (" n " items)")))

(defn network?
  "Whether `x` is a network made by load-model."
  [x]
  (instance? Network x))

(defn dataset?
  "Whether `x` is a data set living in Python (made by `dataset` or cortex.dataset)."
  [x]
  (instance? Dataset x))

(defn- state-of [x]
  (cond (network? x) (.-state ^Network x)
        (dataset? x) (.-state ^Dataset x)))

(defn released?
  "Whether `x` (a network or data set) was released with release!."
  [x]
  (boolean (some-> (state-of x) deref :released?)))

(defn- watched
  "`x` (a fresh Network or Dataset on handle `h`) with its Python object released once
  `x` is collected."
  [x h]
  (swap! (state-of x) assoc :cleanable (py/release-on-gc! x h))
  x)

(defn- ->network [h] (watched (Network. (long h) (atom {})) h))

(defn python-dataset
  "A Dataset for the Python data set `h` (a handle from an entry point), released when
  the Dataset is collected or by release!."
  [h]
  (let [h (long h)]
    (watched (Dataset. h (long (py/call :dataset-count h)) (atom {})) h)))

(defn- handle
  "The live handle of network `net`."
  ^long [net]
  (cond
    (not (network? net))
    (throw (ex-info (str "expected a network from load-model; got " (pr-str (type net)))
                    {:cortex.bridge/error :not-a-network :found (type net)}))
    (released? net)
    (throw (ex-info (str "network " (.-handle ^Network net) " was released")
                    {:cortex.bridge/error :released :handle (.-handle ^Network net)}))
    :else (.-handle ^Network net)))

(defn- cached
  "(f) once per network, kept in its state under `k` (the layer table does not change)."
  [net k f]
  (let [state (state-of net)]
    (or (get @state k) (get (swap! state assoc k (f)) k))))

(defn describe
  "The network's layers (:id :type :output-shape :parameter-count), inputs, outputs."
  [net]
  (let [h (handle net)]
    (cached net :describe #(read-edn (py/call :describe h)))))

(defn summary
  "The layer table as a string."
  [net]
  (let [h (handle net)]
    (cached net :summary #(str (py/call :summary h)))))

(defn description
  "The network's description as Clojure data, as it would be saved: Cortex's layer maps
  in order, with their trained parameters (as {:dtype :shape :data float[]} maps)."
  [net]
  (:description (read-edn (py/call :network-edn (handle net) "tensor"))))

(defmethod print-method Network [^Network net ^java.io.Writer w]
  (.write w (if (released? net)
              (str "#<Network " (.-handle net) " (released)>")
              (str "#<Network " (.-handle net) "\n" (summary net) ">"))))

(defmethod print-method Dataset [^Dataset data ^java.io.Writer w]
  (.write w (str "#<Dataset " (.-handle data) ": " (.-n data) " items"
                 (when (released? data) " (released)") ">")))

(defn load-model
  "Build a network from a description vector (Cortex's layer maps, nested vectors
  flatten), a model map {:description …}, EDN text, or a path to an .edn file.
  Options: {:seed n}."
  ([source] (load-model source {}))
  ([source {:keys [seed] :or {seed -1}}]
   (let [text (if (string? source) source (->edn-text (if (map? source) source
                                                          (vec (flatten (seq source))))))]
     (->network (py/call :load-model text (long seed))))))

(defn load-network
  "Read a network saved with save! (or any model file)."
  [path]
  (load-model (str path)))

(defn import-network
  "A network imported from a trained Cortex network file (.nippy, read with nippy) or an
  ONNX model (.onnx), every parameter inline; save! writes it as EDN. Options: {:seed n}."
  ([path] (import-network path {}))
  ([path {:keys [seed] :or {seed -1}}]
   (->network (py/call :import-network (str path) (long seed)))))

(defn import-cortex
  "A trained Cortex network (the .nippy file train-n saves) as a network here."
  ([path] (import-network path))
  ([path options] (import-network path options)))

(defn import-onnx
  "An ONNX model as a network of Cortex layers (or an error naming the first node that
  Cortex's layers cannot express)."
  ([path] (import-network path))
  ([path options] (import-network path options)))

(defn clone
  "A copy of `net` (parameters, buffers, description) that trains on its own."
  [net]
  (->network (py/call :clone (handle net))))

(defn edit
  "A new network: `net` edited by Cortex's network-editing `operation`
  (:dissoc-layers-from-network :assoc-layers-to-network :resize-input
  :add-property-to-layer :freeze-layers) with `arguments` (a map: :layer-id :layers
  :width :height :channels :input-id :key :value :layer-ids :reinitialize :seed). Every
  kept layer keeps its trained values bit for bit; `net` is left as it was.
  cortex.nn.network has the same under Cortex's own names."
  [net operation arguments]
  (->network (py/call :edit-network (handle net) (name operation) (->edn-text arguments))))

;; --- data -------------------------------------------------------------------------------

(defn- check-widths
  "ex-info naming the stream and layer when a stream's width does not fit its layer."
  [specs {:keys [input-sizes output-sizes]}]
  (doseq [{:keys [name width]} specs
          :let [k (keyword name)]]
    (when-let [size (get input-sizes k)]
      (when-not (= size width)
        (throw (ex-info (str "stream " k " has " width " values per item; the input layer "
                             k " takes " size)
                        {:cortex.bridge/error :data :stream k :layer k
                         :expected size :found width}))))
    (when-let [size (get output-sizes k)]
      (when-not (or (= size width) (= 1 width))
        (throw (ex-info (str "stream " k " has " width " values per item; the output layer "
                             k " gives " size " (labels are " size " values or a class index)")
                        {:cortex.bridge/error :data :stream k :layer k
                         :expected size :found width}))))))

(defn- python-data
  "A fresh Python data set (its handle) from Cortex data, packed once per value; with a
  network, the streams named after its layers are checked against them (Python maps
  :data and :labels onto a one-input, one-output network and checks those)."
  (^long [items] (python-data nil items))
  (^long [net items]
   (let [{:keys [count streams buffers]} (pack/packed items)]
     (when net (check-widths streams (describe net)))
     (py/call :dataset-from-buffers (->edn-text {:count count :streams streams})
              (object-array buffers)))))

(defn dataset
  "A sequence of maps keyed by stream name (Cortex's data convention) as a Dataset living
  in Python: each stream packed into one direct buffer that Python reads without
  copying. Released when the Dataset is collected, or by release!."
  [items]
  (if (dataset? items) items (python-dataset (python-data items))))

(defn- with-data
  "(f handle) for `data`: a Dataset's own handle, or a data set made for this call (for
  `net`) and released when it ends."
  [net data f]
  (if (dataset? data)
    (if (released? data)
      (throw (ex-info "the data set was released" {:cortex.bridge/error :released}))
      (f (.-handle ^Dataset data)))
    (let [h (try (python-data net data)
                 (catch clojure.lang.ExceptionInfo e (throw (py/at-call-site e))))]
      (try (f h) (finally (py/call :release h))))))

(defn- log-fn
  "Where epoch lines go: the :log function (nil or false: nowhere), nowhere with
  :progress false, else the caller's *out*."
  [options]
  (cond
    (contains? options :log) (when-let [f (:log options)] (fn [line] (f (str line))))
    (false? (:progress options)) nil
    :else py/print-line))

;; --- training and inference ---------------------------------------------------------------

(defn train!
  "Train `net` in place on `data` (a sequence of stream maps or a Dataset) and return the
  history (one map per epoch); its metadata's :best-epoch is the epoch whose network was
  kept (with :keep-best and validation data), else nil. Options: :epochs :batch-size
  :optimizer (a map from cortex.optimizers, or EDN text) :validation (data: chooses the
  best epoch, drives :patience) :validation-split (a fraction of `data`) :test (data:
  only reported) :seed :checkpoint :resume :patience :metrics-log :plot :tensorboard
  :device :streams ({dataset-stream layer-id})
  :log (a function of each epoch line; nil for none) :progress (false: no bar, no lines)
  :on-epoch (a function of each epoch's history map, called after the epoch; returning
  :stop ends the run there — the Clojure door to the trainer's callbacks)
  :wait (true: wait for another call on this network instead of failing with :busy).

  Interrupting the calling thread (nREPL interrupt, Ctrl-C, future-cancel) stops the run
  after the current step: ex-info {:cortex.bridge/error :interrupted :history […]}, the
  network as that step left it (and a checkpoint, if one was asked for)."
  ([net data] (train! net data {}))
  ([net data {:keys [test validation] :as options}]
   (let [h (handle net)
         log (log-fn options)
         on-epoch (when-let [f (:on-epoch options)]
                    (fn [text] (f (read-edn text))))
         go (fn [d t v]
              (let [text (->edn-text (cond-> (dissoc options :test :validation :log :on-epoch)
                                       (pos? v) (assoc :validation-handle v)))]
                (py/interruptibly "train!"
                                  (fn [flag] (py/call :train h d t text flag log on-epoch)))))
         ;; each data set given as items lives in Python for this call only
         optional (fn [x f] (if x (with-data net x f) (f -1)))
         {:keys [history best-epoch]}
         (read-edn (with-data net data
                     (fn [d] (optional test
                                       (fn [t] (optional validation (fn [v] (go d t v))))))))]
     (with-meta (vec history) {:best-epoch best-epoch}))))

(defn evaluate
  "{:loss … :accuracy … :confusion … :precision … :recall …} on `data`. Options:
  :batch-size :streams :wait. Interruptible as train! is."
  ([net data] (evaluate net data {}))
  ([net data options]
   (let [h (handle net)
         text (->edn-text options)]
     (read-edn (with-data net data
                 (fn [d] (py/interruptibly "evaluate"
                                           (fn [flag] (py/call :evaluate h d text flag)))))))))

(defn run
  "Outputs for every item of `data`, Cortex's way: a vector with one map per item,
  {leaf-id [values …]}. Options: :batch-size :streams :wait. Interruptible as train! is."
  ([net data] (run net data {}))
  ([net data options]
   (let [h (handle net)
         text (->edn-text options)
         ^objects result (with-data net data
                           (fn [d] (py/interruptibly
                                    "run" (fn [flag] (py/call :predict h d text flag)))))
         shapes (read-edn (aget result 0))
         leaves (keys shapes)
         arrays (zipmap leaves (rest result))]
     (vec (for [i (range (first (val (first shapes))))]
            (into {} (for [leaf leaves]
                       (let [[_ width] (get shapes leaf)
                             ^floats values (get arrays leaf)]
                         [leaf (vec (java.util.Arrays/copyOfRange values
                                                                  (int (* i width))
                                                                  (int (* (inc i) width))))]))))))))

(defn- weights-index
  "{layer-id [[param shape] …]} without fetching any numbers."
  [net]
  (reduce (fn [acc [layer param shape]] (update acc layer (fnil conj []) [param shape]))
          {} (read-edn (py/call :parameter-index (handle net)))))

(defn weights
  "The trained parameters: {layer-id {param {:shape [..] :data float[]}}}; with
  {:as :vectors} the data are nested vectors in Cortex's layout."
  ([net] (weights net {}))
  ([net {:keys [as]}]
   (reduce (fn [acc [layer param shape]]
             (let [^floats data (py/call :parameter-array (handle net) (name layer) (name param))
                   value (if (= as :vectors)
                           (if (= 1 (count shape))
                             (vec data)
                             (mapv vec (partition (last shape) data)))
                           {:shape shape :data data})]
               (assoc-in acc [layer param] value)))
           {}
           (read-edn (py/call :parameter-index (handle net))))))

(defn save!
  "Write `net` to `path` as EDN (:encoding :tensor, the default, or :vector)."
  ([net path] (save! net path {}))
  ([net path {:keys [encoding] :or {encoding :tensor}}]
   (py/call :save (handle net) (str path) (name encoding))))

(defn release!
  "Free the Python object behind a network or data set now (it is also freed when the
  Clojure object is collected). Later calls on it throw {:cortex.bridge/error
  :released}; releasing twice does nothing."
  [x]
  (if-let [state (state-of x)]
    (let [{:keys [cleanable released?]} @state]
      (swap! state assoc :released? true)
      (when-not released? (py/release-now! cleanable))
      (not released?))
    (throw (ex-info (str "release! takes a network or a data set; got " (pr-str (type x)))
                    {:found (type x)}))))

;; --- data views ---------------------------------------------------------------------------

(defn- layer-view
  "A layer of `net` as data, navigable to its parameters (nested vectors, Cortex's
  layout)."
  [net layer]
  (with-meta layer
    {`p/nav (fn [_ k v]
              (if (= k :parameters)
                (get (weights net {:as :vectors}) (:id layer))
                v))}))

(extend-protocol p/Datafiable
  Network
  (datafy [net]
    (let [{:keys [layers inputs outputs parameter-count]} (describe net)
          ids (set (keys (weights-index net)))]
      (with-meta
        {:handle (.-handle ^Network net)
         :inputs inputs :outputs outputs :parameter-count parameter-count
         :layers (with-meta (mapv #(cond-> % (ids (:id %)) (assoc :parameters :not-fetched))
                                  layers)
                   {`p/nav (fn [_ _ layer] (layer-view net layer))})
         :weights :not-fetched
         :description :not-fetched}
        {`p/nav (fn [_ k v]
                  (case k
                    :weights (weights net {:as :vectors})
                    :description (description net)
                    v))})))
  Dataset
  (datafy [data] {:handle (.-handle ^Dataset data) :count (.-n ^Dataset data)}))
