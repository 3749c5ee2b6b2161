(ns cortex.bridge.bulk
  "A data set held as bulk arrays (one per stream) that reads as Cortex data: a counted,
  indexed, seqable collection of maps such as {:data [784 floats] :labels [one-hot]}.
  `count`, `nth`, `first`, `take`, `map` and `reduce` all work; each item is built when
  it is asked for. Crossing to Python packs nothing: each array is copied once into a
  direct buffer (cached with the value), integer labels staying class indices.

  Made by cortex.dataset's loaders from Python's data sets (`from-python`)."
  (:require [clojure.edn :as edn]
            [cortex.bridge.pack :as pack]
            [cortex.bridge.python :as py])
  (:import (java.nio ByteBuffer ByteOrder)
           (java.util Arrays)))

(set! *warn-on-reflection* true)

(defn- item-value
  "Item `i` of one stream: a vector of its floats, the one-hot vector of an integer
  label (Cortex's form), or the bare number of a width-1 float column."
  [{:keys [array width dtype classes vector?]} ^long i]
  (let [width (long width)]
    (if (= dtype :int64)
      (let [label (aget ^longs array i)]
        (assoc (vec (repeat classes 0.0)) label 1.0))
      (let [^floats a array
            start (* i width)]
        (if vector?
          (vec (Arrays/copyOfRange a (int start) (int (+ start width))))
          (aget a start))))))

(defn- item [streams ^long i]
  (persistent! (reduce (fn [m s] (assoc! m (:key s) (item-value s i))) (transient {}) streams)))

(defn- direct ^java.nio.Buffer [array dtype]
  (let [n (count array)
        buffer (.order (ByteBuffer/allocateDirect (* (if (= dtype :int64) 8 4) (max 1 n)))
                       (ByteOrder/nativeOrder))]
    (if (= dtype :int64)
      (doto (.asLongBuffer buffer) (.put ^longs array) (.flip))
      (doto (.asFloatBuffer buffer) (.put ^floats array) (.flip)))))

(defn- pack-streams [n streams]
  {:count n
   :streams (mapv (fn [{:keys [key width dtype vector?]}]
                    {:name (if (keyword? key) (subs (str key) 1) (str key)) :width width
                     :dtype dtype :vector vector?})
                  streams)
   :buffers (mapv #(direct (:array %) (:dtype %)) streams)})

;; `streams`: [{:key :width :dtype :classes :vector? :array} …]; `packed` a delay.
(deftype BulkDataset [^long n streams packed]
  clojure.lang.Counted
  (count [_] n)
  clojure.lang.Indexed
  (nth [_ i]
    (when-not (< -1 i n)
      (throw (IndexOutOfBoundsException. (str "item " i " of a data set of " n))))
    (item streams i))
  (nth [this i not-found] (if (< -1 i n) (.nth this i) not-found))
  clojure.lang.Sequential
  clojure.lang.Seqable
  (seq [_] (when (pos? n) (map #(item streams %) (range n))))
  clojure.lang.IReduceInit
  (reduce [_ f init]
    (loop [i 0 acc init]
      (if (or (= i n) (reduced? acc))
        (unreduced acc)
        (recur (inc i) (f acc (item streams i))))))
  pack/Packable
  (packed-form [_] @packed))

(defn bulk?
  "Whether `x` is a data set backed by bulk arrays."
  [x]
  (instance? BulkDataset x))

(defn- dataset [n streams]
  (let [n (long n)]
    (BulkDataset. n streams (delay (pack-streams n streams)))))

(defn from-python
  "The Python data set `h` as a BulkDataset (one bulk copy per stream); `h` stays
  Python's to release."
  [h]
  (let [^objects result (py/call :dataset-columns (long h))
        specs (edn/read-string (str (aget result 0)))
        n (first (:shape (first specs)))]
    (dataset n (mapv (fn [{:keys [name shape dtype classes]} array]
                       {:key (keyword name) :width (reduce * 1 (rest shape)) :dtype dtype
                        :classes classes :vector? (> (count shape) 1) :array array})
                     specs (rest result)))))

(defn rename
  "The same data under other stream names ({old-key new-key}); the arrays are shared."
  [^BulkDataset data mapping]
  (dataset (.-n data) (mapv #(update % :key (fn [k] (get mapping k k))) (.-streams data))))

(defn describe-streams
  "{stream-key {:width … :dtype … :classes …}}"
  [^BulkDataset data]
  (into {} (map (fn [{:keys [key width dtype classes]}]
                  [key (cond-> {:width width :dtype dtype} classes (assoc :classes classes))])
                (.-streams data))))

(defmethod print-method BulkDataset [^BulkDataset data ^java.io.Writer w]
  (.write w (str "#<Dataset " (.-n data) " items "
                 (pr-str (into {} (map (fn [{:keys [key width dtype classes]}]
                                         [key (if (= dtype :int64)
                                                (str "one-hot of " classes)
                                                (str width " floats"))])
                                       (.-streams data))))
                 ">")))
