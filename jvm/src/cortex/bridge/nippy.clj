(ns cortex.bridge.nippy
  "Trained Cortex networks, as `cortex.experiment.train/train-n` saves them (a nippy-frozen
  map, LZ4-compressed), read with the real nippy library (Debian's libnippy-clojure) and
  handed to Python as plain data: EDN text for the structure, one double[] per buffer.

  nippy is resolved when first used, so this namespace loads (and compiles ahead of
  time) on a classpath without it; the error then says how to install it.

  Cortex >= 0.9.8 saves each parameter buffer as plain Java data: a double[] for a vector,
  a vector of double[] rows for a matrix (cortex-spec §3.7). Java serialises arrays with
  the class names \"[D\" and \"[[D\"; nippy thaws only allow-listed classes, so both are
  added to its default list for the thaw."
  (:require [clojure.walk :as walk]))

(set! *warn-on-reflection* true)

(def install-hint
  "How to get nippy."
  "importing Cortex .nippy files needs nippy: apt-get update && apt-get install -y libnippy-clojure")

(defn- nippy-var [name]
  (try
    (requiring-resolve (symbol "taoensso.nippy" name))
    (catch java.io.FileNotFoundException _
      (throw (ex-info install-hint {:cortex.bridge/error :nippy-missing})))))

(def array-classes
  "Serialised array classes a Cortex network holds (double[] and double[][]), and their
  float cousins."
  #{"[D" "[[D" "[F" "[[F"})

(defn thaw-bytes
  "The value nippy froze into `data` (bytes), with [D and [[D allowed."
  [^bytes data]
  (let [allowlist (nippy-var "*thaw-serializable-allowlist*")
        default @(nippy-var "default-thaw-serializable-allowlist")]
    (with-bindings {allowlist (into (set default) array-classes)}
      ((nippy-var "thaw") data))))

(defn thaw-file
  "The value frozen in the nippy file at `path`."
  [path]
  (thaw-bytes (java.nio.file.Files/readAllBytes
               (.toPath (java.io.File. (str path))))))

(defn freeze-file!
  "Freeze `value` into the file at `path` as Cortex's util/write-nippy-file does (nippy's
  defaults: LZ4 above 8 KB). For tests and for making Cortex-shaped files."
  [path value]
  (let [data ^bytes ((nippy-var "freeze") value)]
    (with-open [out (java.io.FileOutputStream. (str path))]
      (.write out data))
    (str path)))

;; --- buffers as flat arrays -------------------------------------------------------------

(def ^:private double-class (Class/forName "[D"))
(def ^:private float-class (Class/forName "[F"))

(defn- fail [buffer-id message]
  (throw (ex-info (str "buffer " buffer-id ": " message)
                  {:cortex.bridge/error :bad-buffer :buffer-id buffer-id})))

(defn- row ^doubles [buffer-id x]
  (cond
    (instance? double-class x) x
    (instance? float-class x) (double-array (seq ^floats x))
    (and (sequential? x) (every? number? x)) (double-array x)
    (and (map? x) (:nippy/unthawable x))
    (fail buffer-id (str "nippy could not thaw a " (get-in x [:nippy/unthawable :class-name])
                         " (a Cortex network saved before 0.9.8 holds vectorz matrices;"
                         " convert it with Cortex's model-upgrader)"))
    :else (fail buffer-id (str "holds a " (if (nil? x) "nil" (.getName (class x)))
                               " where double[] or numbers belong"))))

(defn- matrix? [x]
  (or (.isArray (class x)) (sequential? x)))

(defn- flat-buffer
  "[double[] shape] for a buffer: a double[] (1-D), or rows (2-D: a vector or array of
  double[] or of number vectors)."
  [buffer-id x]
  (if (and (some? x) (matrix? x) (not (instance? double-class x))
           (not (instance? float-class x)) (not (every? number? (seq x))))
    (let [rows (mapv #(row buffer-id %) (seq x))
          width (if (seq rows) (alength ^doubles (first rows)) 0)
          out (double-array (* (count rows) width))]
      (doseq [[i ^doubles r] (map-indexed vector rows)]
        (when (not= (alength r) width)
          (fail buffer-id (str "row " i " has " (alength r) " values, row 0 " width)))
        (System/arraycopy r 0 out (* i width) width))
      [out [(count rows) width]])
    (let [r (row buffer-id x)] [r [(alength r)]])))

(defn- plain
  "Data the EDN reader reads back: anything else (records print as maps; functions,
  Java objects) becomes a string naming its class."
  [x]
  (walk/prewalk
   (fn [v]
     (cond
       (or (nil? v) (boolean? v) (number? v) (string? v) (keyword? v) (symbol? v)
           (map? v) (vector? v) (seq? v) (set? v) (map-entry? v)) v
       (instance? double-class v) (vec v)
       :else (str "#<" (.getName (class v)) ">")))
   x))

(defn network-data
  "A thawed Cortex network as Python reads it: an Object[] whose first element is EDN
  text `{:nodes {...} :edges [...] :buffers {id {:array i :shape [..]}} :streams {...}
  :epoch-count n :cv-loss x}` and whose element i+1 is buffer i as a double[]."
  [network]
  (let [graph (:compute-graph network)]
    (when-not (and (map? network) (map? graph) (map? (:nodes graph)))
      (throw (ex-info (str "not a Cortex network: no {:compute-graph {:nodes …}} map (found "
                           (if (map? network) (vec (keys network)) (class network)) ")")
                      {:cortex.bridge/error :not-a-network})))
    (let [buffers (vec (:buffers graph))
          flat (mapv (fn [[id entry]]
                       (flat-buffer id (if (map? entry) (:buffer entry) entry)))
                     buffers)
          index (into {} (map-indexed (fn [i [id _]] [id {:array i :shape (second (flat i))}])
                                      buffers))
          text (binding [*print-length* nil *print-level* nil *print-namespace-maps* false]
                 (pr-str (plain {:nodes (:nodes graph) :edges (vec (:edges graph))
                                 :streams (:streams graph) :buffers index
                                 :epoch-count (:epoch-count network)
                                 :cv-loss (:cv-loss network)})))]
      (object-array (cons text (map first flat))))))

(defn read-network-data
  "network-data of the nippy file at `path`."
  [path]
  (network-data (thaw-file path)))
