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

  Networks live in the Python process; a Network record holds a handle to one. Data
  crosses as primitive arrays in one bulk copy per stream."
  (:require [clojure.edn :as edn]
            [cortex.bridge.edn :as bridge-edn]
            [cortex.bridge.python :as py])
  (:import (java.nio ByteBuffer ByteOrder)))

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

(defrecord Network [handle]
  Object
  (toString [_] (str "#cortex.bridge/network " handle)))

(defmethod print-method Network [net ^java.io.Writer w]
  (.write w (str "#<cortex.bridge.Network " (:handle net) " "
                 (pr-str (mapv :id (:layers (py/call :describe (long (:handle net)))))) ">")))

(defrecord Dataset [handle count])

(defn network? [x] (instance? Network x))

(defn- handle [net]
  (if (network? net)
    (long (:handle net))
    (throw (ex-info "expected a network from load-model" {:got (type net)}))))

(defn describe
  "The network's layers (:id :type :output-shape :parameter-count), inputs, outputs."
  [net]
  (read-edn (py/call :describe (handle net))))

(defn summary
  "The layer table as a string."
  [net]
  (str (py/call :summary (handle net))))

(defn load-model
  "Build a network from a description vector (Cortex's layer maps, nested vectors
  flatten), a model map {:description …}, EDN text, or a path to an .edn file.
  Options: {:seed n}."
  ([source] (load-model source {}))
  ([source {:keys [seed] :or {seed -1}}]
   (let [text (if (string? source) source (->edn-text (if (map? source) source
                                                          (vec (flatten (seq source))))))]
     (->Network (py/call :load-model text (long seed))))))

(defn load-network
  "Read a network saved with save! (or any model file)."
  [path]
  (load-model (str path)))

;; --- data -------------------------------------------------------------------------------

(defn- stream-name [k] (if (keyword? k) (subs (str k) 1) (str k)))

(defn- flat-floats
  "One item of a stream as a float[] (numbers, nested vectors, or primitive arrays)."
  ^floats [k index v]
  (cond
    (instance? (Class/forName "[F") v) v
    (instance? (Class/forName "[D") v) (float-array v)
    (number? v) (float-array [v])
    (sequential? v) (let [flat (flatten v)]
                      (when-let [bad (first (remove number? flat))]
                        (throw (ex-info (str "stream " k " item " index " holds "
                                             (pr-str bad) " where numbers belong")
                                        {:stream k :item index :value bad})))
                      (float-array flat))
    :else (throw (ex-info (str "stream " k " item " index " holds " (pr-str v)
                               " where numbers belong")
                          {:stream k :item index :value v}))))

(defn- direct-floats ^ByteBuffer [n]
  (.order (ByteBuffer/allocateDirect (* 4 (max 1 n))) (ByteOrder/nativeOrder)))

(defn dataset
  "A sequence of maps keyed by stream name (Cortex's data convention) as a Dataset living
  in Python. Each stream's values are packed into one direct buffer (one bulk copy per
  item array) that Python reads without copying."
  [items]
  (cond
    (instance? Dataset items) items
    :else
    (let [items (vec items)
          n (count items)]
      (when (zero? n) (throw (ex-info "the dataset is empty" {})))
      (let [ks (keys (first items))
            streams
            (vec
             (for [k ks]
               (let [first-value (flat-floats k 0 (get (first items) k))
                     width (alength first-value)
                     buffer (direct-floats (* n width))
                     floats (.asFloatBuffer buffer)]
                 (doseq [[index item] (map-indexed vector items)]
                   (when-not (contains? item k)
                     (throw (ex-info (str "item " index " has no stream " k)
                                     {:stream k :item index :keys (keys item)})))
                   (let [values (flat-floats k index (get item k))]
                     (when-not (= width (alength values))
                       (throw (ex-info (str "stream " k " item " index " has "
                                            (alength values) " values; item 0 has " width)
                                       {:stream k :item index :width (alength values)
                                        :expected width})))
                     (.put floats values)))
                 {:spec {:name (stream-name k) :width width :dtype :float32
                         :vector (or (sequential? (get (first items) k))
                                     (not (number? (get (first items) k))))}
                  :buffer (.asFloatBuffer buffer)})))]
        (->Dataset (py/call :dataset-from-buffers
                            (->edn-text {:count n :streams (mapv :spec streams)})
                            (object-array (map :buffer streams)))
                   n)))))

(defn- dataset-handle [data] (long (:handle (dataset data))))

;; --- training and inference ---------------------------------------------------------------

(defn train!
  "Train `net` in place on `data` (a sequence of stream maps or a Dataset) and return the
  history (one map per epoch); its metadata's :best-epoch is the epoch whose network was
  kept (with :keep-best and validation data), else nil. Options: :epochs :batch-size
  :optimizer (a map from cortex.optimizers, or EDN text) :validation (data: chooses the
  best epoch, drives :patience) :validation-split (a fraction of `data`) :test (data:
  only reported) :seed :checkpoint :resume :patience :metrics-log :plot :tensorboard
  :device :streams ({dataset-stream layer-id})."
  ([net data] (train! net data {}))
  ([net data {:keys [test validation] :as options}]
   (let [{:keys [history best-epoch]}
         (read-edn (py/call :train (handle net) (dataset-handle data)
                            (if test (dataset-handle test) -1)
                            (->edn-text (cond-> (dissoc options :test :validation)
                                          validation (assoc :validation-handle
                                                            (dataset-handle validation))))))]
     (with-meta (vec history) {:best-epoch best-epoch}))))

(defn evaluate
  "{:loss … :accuracy … :confusion … :precision … :recall …} on `data`."
  ([net data] (evaluate net data {}))
  ([net data options]
   (read-edn (py/call :evaluate (handle net) (dataset-handle data) (->edn-text options)))))

(defn run
  "Outputs for every item of `data`, Cortex's way: a vector with one map per item,
  {leaf-id [values …]}."
  ([net data] (run net data {}))
  ([net data options]
   (let [^objects result (py/call :predict (handle net) (dataset-handle data)
                                  (->edn-text options))
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
  "Forget the Python object behind a network or dataset."
  [x]
  (py/call :release (long (:handle x))))
