(ns cortex.bridge.pack
  "Cortex's data (a sequence of maps keyed by stream name) packed for Python: one direct
  native-order buffer per stream, filled in primitive loops (numbers are read once each
  with .floatValue; nothing is flattened into intermediate seqs), which numpy views
  without copying.

  The packed form of a persistent collection is cached by identity (weakly: it goes
  when the collection does), so training on the same value again, epoch after epoch in
  a Cortex-style loop, packs it once."
  (:import (clojure.lang Indexed IPersistentCollection ISeq)
           (java.lang.ref WeakReference)
           (java.nio ByteBuffer ByteOrder FloatBuffer)
           (java.util ArrayList Iterator)))

(set! *warn-on-reflection* true)

(def ^:private float-class (Class/forName "[F"))
(def ^:private double-class (Class/forName "[D"))

(defn- not-a-number [k index v]
  (throw (ex-info (str "stream " k " item " index " holds " (pr-str v)
                       " where numbers belong")
                  {:stream k :item index :value v})))

(defn- wrong-width [k index found expected]
  (throw (ex-info (str "stream " k " item " index " has " found " values; item 0 has "
                       expected)
                  {:stream k :item index :expected expected :found found})))

(defn- fill!
  "Write the numbers of `v` (a number, a float[]/double[], or nested vectors/seqs of
  them) into `out` from `offset`, never past `end`; the offset after them, or -1 when
  they do not fit."
  ^long [^floats out ^long offset ^long end v]
  (cond
    (instance? Number v) (if (< offset end)
                           (do (aset out offset (.floatValue ^Number v)) (inc offset))
                           -1)
    (instance? float-class v) (let [^floats a v n (alength a)]
                                (if (<= (+ offset n) end)
                                  (do (System/arraycopy a 0 out offset n) (+ offset n))
                                  -1))
    (instance? double-class v) (let [^doubles a v n (alength a)]
                                 (if (<= (+ offset n) end)
                                   (do (dotimes [i n] (aset out (+ offset i) (float (aget a i))))
                                       (+ offset n))
                                   -1))
    (instance? Indexed v) (let [^Indexed a v n (.count ^clojure.lang.Counted v)]
                            (loop [i 0 at offset]
                              (if (or (= i n) (neg? at))
                                at
                                (recur (inc i) (fill! out at end (.nth a i))))))
    (instance? Iterable v) (let [^Iterator it (.iterator ^Iterable v)]
                             (loop [at offset]
                               (if (or (neg? at) (not (.hasNext it)))
                                 at
                                 (recur (fill! out at end (.next it))))))
    :else (throw (ex-info "not a number" {::bad v}))))

(defn- width-of
  "How many numbers one item's value holds."
  ^long [v k index]
  (cond
    (instance? Number v) 1
    (instance? float-class v) (alength ^floats v)
    (instance? double-class v) (alength ^doubles v)
    (or (instance? Indexed v) (instance? Iterable v))
    (reduce (fn [^long acc x] (+ acc (width-of x k index))) 0 v)
    :else (not-a-number k index v)))

(defn- stream-name [k] (if (keyword? k) (subs (str k) 1) (str k)))

(defn- direct-floats ^FloatBuffer [^long n]
  (.asFloatBuffer (.order (ByteBuffer/allocateDirect (* 4 (max 1 n))) (ByteOrder/nativeOrder))))

(defn- put-item!
  "Item `index`'s value `v` into `out`: a float[] of the width in one bulk copy, anything
  else through `scratch` (one item's floats) filled in primitive loops."
  [^FloatBuffer out ^floats scratch v k index]
  (let [width (alength scratch)]
    (if (and (instance? float-class v) (= width (alength ^floats v)))
      (.put out ^floats v)
      (let [end (try (fill! scratch 0 width v)
                     (catch clojure.lang.ExceptionInfo e
                       (if (contains? (ex-data e) ::bad)
                         (not-a-number k index (::bad (ex-data e)))
                         (throw e))))]
        (when-not (= end width)
          (wrong-width k index (width-of v k index) width))
        (.put out scratch)))))

(defn- pack-stream
  "{:spec {:name :width :dtype :vector} :buffer FloatBuffer} of stream `k`: one direct
  buffer, filled item by item."
  [^java.util.List items k]
  (let [n (.size items)
        first-value (get (.get items 0) k)
        width (width-of first-value k 0)
        ^FloatBuffer out (direct-floats (* n width))
        scratch (float-array width)]
    (dotimes [index n]
      (let [item (.get items index)]
        (when-not (contains? item k)
          (throw (ex-info (str "item " index " has no stream " k)
                          {:stream k :item index :keys (keys item)})))
        (put-item! out scratch (get item k) k index)))
    (.flip out)
    {:spec {:name (stream-name k) :width width :dtype :float32
            :vector (not (instance? Number first-value))}
     :buffer out}))

(defn pack
  "Cortex data as {:count n :streams [spec …] :buffers [FloatBuffer …]}. Throws ex-info
  naming the stream and item of a value that is not numbers, or of the wrong width."
  [items]
  (let [items (if (instance? java.util.RandomAccess items) items (vec items))
        n (count items)]
    (when (zero? n) (throw (ex-info "the dataset is empty" {:count 0})))
    (let [streams (mapv #(pack-stream items %) (keys (first items)))]
      {:count n :streams (mapv :spec streams) :buffers (mapv :buffer streams)})))

(defprotocol Packable
  "Data that knows its packed form (bulk arrays: cortex.bridge.bulk)."
  (packed-form [data] "{:count :streams :buffers}, as `pack` gives."))

;; --- the identity cache ----------------------------------------------------------------

(def ^:private cache-size 8)
(defonce ^:private ^ArrayList cache (ArrayList.)) ; [WeakReference packed] pairs, newest last

(defn- cacheable?
  "Persistent collections only: a value that cannot change under its identity. A
  collection of Java arrays can (arrays are mutable), so it is packed every time."
  [items]
  (and (or (instance? IPersistentCollection items) (instance? ISeq items))
       (let [item (first items)]
         (and (map? item) (not-any? #(.isArray (class %)) (remove nil? (vals item)))))))

(defn- lookup [items]
  (locking cache
    (.removeIf cache (reify java.util.function.Predicate
                       (test [_ entry] (nil? (.get ^WeakReference (first entry))))))
    (some (fn [[^WeakReference ref packed]] (when (identical? items (.get ref)) packed))
          cache)))

(defn- remember! [items packed]
  (locking cache
    (when (>= (.size cache) cache-size) (.remove cache 0))
    (.add cache [(WeakReference. items) packed]))
  packed)

(defn packed
  "`pack`, cached by the identity of `items` when it is a persistent collection."
  [items]
  (cond
    (satisfies? Packable items) (packed-form items)
    (cacheable? items)
    (or (lookup items) (remember! items (pack items)))
    :else (pack items)))

(defn cached-count
  "How many packed data sets the cache holds (for tests)."
  []
  (locking cache (.size cache)))
