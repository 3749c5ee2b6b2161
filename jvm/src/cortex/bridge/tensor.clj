(ns cortex.bridge.tensor
  "The `#cortex-bridge/tensor` literal in plain Clojure (no Python needed):

    #cortex-bridge/tensor {:dtype :float32 :shape [128 784]
                           :data \"<base64 of the little-endian bytes, C order>\"
                           :crc32 1234567890}

  `:crc32` is java.util.zip.CRC32 of the raw bytes (the number Python's zlib.crc32
  gives). Dtypes and the arrays they read into: `:float32` float[], `:float64` double[],
  `:int64` long[], and `:float16` and `:bfloat16` float[] (widened exactly). Every bit
  survives, -0.0, subnormals and NaN payloads included, in both directions.

  `read-tensor` is the tag's reader function (see `cortex.bridge.edn/readers`);
  `tensor->edn` prints the literal, byte for byte as `bridge/edn/tensor_tag.py` does.
  Reading checks, in this order and each with its own message, as the Python reader
  does: the keys (all four, no others), the dtype, the shape, the element count, the
  length of the base64 text against what the shape needs (so a shape bomb is refused
  before anything is allocated), the base64 alphabet and the checksum."
  (:require [clojure.string :as str])
  (:import (java.nio ByteBuffer ByteOrder)
           (java.util Base64)
           (java.util.zip CRC32)))

(set! *warn-on-reflection* true)

(def item-sizes
  "Bytes per element of each dtype."
  {:float32 4 :float64 8 :int64 8 :float16 2 :bfloat16 2})

(def ^:private tag "#cortex-bridge/tensor")
(def ^:private tensor-keys #{:dtype :shape :data :crc32})
(def ^:private max-array (- Integer/MAX_VALUE 8))

(defn- crc32 ^long [^bytes raw]
  (let [c (CRC32.)] (.update c raw) (.getValue c)))

(defn- little-endian ^ByteBuffer [^ByteBuffer buffer]
  (.order buffer ByteOrder/LITTLE_ENDIAN))

(defn- fail [message data]
  (throw (ex-info (str tag " " message) data)))

;; --- 16-bit floats, exactly -------------------------------------------------------

(defn- half-bits->float-bits
  "float32 bits of the float16 `h`: exact, NaN payload and sign kept."
  ^long [^long h]
  (let [sign (bit-shift-left (bit-and h 0x8000) 16)
        exponent (bit-and (bit-shift-right h 10) 0x1f)
        mantissa (bit-and h 0x3ff)]
    (cond
      (= exponent 0x1f) (bit-or sign 0x7f800000 (bit-shift-left mantissa 13))
      (pos? exponent) (bit-or sign (bit-shift-left (+ exponent 112) 23)
                              (bit-shift-left mantissa 13))
      (zero? mantissa) sign
      :else (bit-or sign (Float/floatToRawIntBits (Math/scalb (float mantissa) (int -24)))))))

(defn- float-bits->half-bits
  "float16 bits of the float32 bits `f`, or nil when the value has no exact float16."
  [^long f]
  (let [sign (bit-and (unsigned-bit-shift-right f 16) 0x8000)
        exponent (bit-and (unsigned-bit-shift-right f 23) 0xff)
        mantissa (bit-and f 0x7fffff)
        e (- exponent 127)]
    (cond
      (= exponent 0xff) (when (zero? (bit-and mantissa 0x1fff)) ; infinity, or a NaN whose
                          (bit-or sign 0x7c00                    ; payload fits 10 bits
                                  (unsigned-bit-shift-right mantissa 13)))
      (and (zero? exponent) (zero? mantissa)) sign
      (zero? exponent) nil                ; float32 subnormals are below float16's range
      (<= -14 e 15) (when (zero? (bit-and mantissa 0x1fff))
                      (bit-or sign (bit-shift-left (+ e 15) 10)
                              (unsigned-bit-shift-right mantissa 13)))
      (<= -24 e -15) (let [significand (bit-or mantissa 0x800000)
                           shift (- (inc e))]
                       (when (zero? (bit-and significand (dec (bit-shift-left 1 shift))))
                         (bit-or sign (unsigned-bit-shift-right significand shift))))
      :else nil)))

(defn- float-bits->bfloat-bits [^long f]
  (when (zero? (bit-and f 0xffff)) (unsigned-bit-shift-right f 16)))

;; --- reading ----------------------------------------------------------------------

(defn- widen
  "float[] of the 16-bit values in `buffer`, through their exact float32 bits."
  [^ByteBuffer buffer n half?]
  (let [shorts (.asShortBuffer buffer)
        bits (int-array n)]
    (dotimes [i n]
      (let [h (bit-and (long (.get shorts (int i))) 0xffff)]
        (aset bits i (unchecked-int (if half?
                                      (half-bits->float-bits h)
                                      (bit-shift-left h 16))))))
    ;; ints to floats through memory, so no float register can touch a NaN's bits
    (let [wide (little-endian (ByteBuffer/allocate (* 4 n)))
          out (float-array n)]
      (.put (.asIntBuffer wide) bits)
      (.get (.asFloatBuffer wide) out)
      out)))

(defn- decode [dtype ^bytes raw n]
  (let [buffer (little-endian (ByteBuffer/wrap raw))]
    (case dtype
      :float32 (let [out (float-array n)] (.get (.asFloatBuffer buffer) out) out)
      :float64 (let [out (double-array n)] (.get (.asDoubleBuffer buffer) out) out)
      :int64 (let [out (long-array n)] (.get (.asLongBuffer buffer) out) out)
      :float16 (widen buffer n true)
      :bfloat16 (widen buffer n false))))

(defn- nest
  "`values` (a primitive array) as nested vectors of `shape`, C order; a scalar for []."
  [values shape]
  (let [flat (vec values)]
    (letfn [(build [offset dims]
              (if (= 1 (count dims))
                (subvec flat offset (+ offset (first dims)))
                (let [inner (reduce * 1 (rest dims))]
                  (mapv #(build (+ offset (* % inner)) (rest dims)) (range (first dims))))))]
      (if (empty? shape) (first flat) (build 0 (vec shape))))))

(defn- check-shape
  "`shape` as a vector, when it is a sequence of non-negative integers."
  [shape m]
  (when-not (and (sequential? shape) (every? #(and (integer? %) (not (neg? %))) shape))
    (fail (str ":shape must be a vector of non-negative integers. Received: "
               (pr-str shape))
          {:tensor (dissoc m :data) :key :shape :value shape}))
  (vec shape))

(defn read-tensor
  "The map of a tensor literal as `{:dtype :shape :data}`, `:data` a primitive array
  (float[] for the 16-bit dtypes). The reader function of `#cortex-bridge/tensor`.

  Options: `:as :vectors` gives `:data` as nested vectors of `:shape` (a bare number for
  shape []); `:max-elements` refuses larger shapes before decoding (default: the
  largest Java array).

  Throws ex-info with `:tensor` (the literal without `:data`) and the failing `:key`: a
  missing or unknown key, an unknown dtype, a bad shape, too many elements, base64 text
  of the wrong length (\"truncated\" or \"too long\") or outside the alphabet, or a
  checksum mismatch (\"the file is damaged\")."
  ([m] (read-tensor m {}))
  ([m {:keys [as max-elements] :or {max-elements max-array}}]
   (when-not (map? m)
     (fail (str "takes a map {:dtype … :shape … :data … :crc32 …}. Received: "
                (pr-str (type m)))
           {:value (type m)}))
   (let [summary (dissoc m :data)
         unknown (remove tensor-keys (keys m))
         missing (remove #(contains? m %) [:dtype :shape :data :crc32])
         {:keys [dtype shape data] checksum :crc32} m]
     (when (seq unknown)
       (fail (str "has unknown keys " (str/join " " (map pr-str unknown))
                  "; it takes :dtype :shape :data :crc32")
             {:tensor summary :key (first unknown)}))
     (when (seq missing)
       (fail (str "needs " (str/join " " missing) "; it has "
                  (str/join " " (map pr-str (keys m))))
             {:tensor summary :key (first missing)}))
     (when-not (contains? item-sizes dtype)
       (fail (str ":dtype must be one of :float32 :float64 :int64 :float16 :bfloat16. "
                  "Received: :dtype " (pr-str dtype))
             {:tensor summary :key :dtype :value dtype}))
     (let [shape (check-shape shape m)
           n (reduce *' 1 shape)]
       (when (> n (min max-elements max-array))
         (fail (str ":shape " (pr-str shape) " declares " n " values, over the limit of "
                    (min max-elements max-array))
               {:tensor summary :key :shape :value shape :max-elements max-elements}))
       (when-not (and (integer? checksum) (<= 0 checksum 0xffffffff))
         (fail (str ":crc32 must be an unsigned 32-bit integer. Received: :crc32 "
                    (pr-str checksum))
               {:tensor summary :key :crc32 :value checksum}))
       (when-not (string? data)
         (fail (str ":data must be a base64 string. Received: " (pr-str (type data)))
               {:tensor summary :key :data}))
       (let [n (long n)
             nbytes (* n (long (item-sizes dtype)))
             expected (* 4 (quot (+ nbytes 2) 3))
             found (count data)]
         (when-not (= expected found)
           (fail (str ":data is " (if (< found expected) "truncated" "too long") ": :shape "
                      (pr-str shape) " of " dtype " needs " nbytes " bytes, " expected
                      " base64 characters; found " found)
                 {:tensor summary :key :data :expected expected :found found}))
         (let [raw (try (.decode (Base64/getDecoder) ^String data)
                        (catch IllegalArgumentException e
                          (fail (str ":data is not valid base64 (" (.getMessage e)
                                     "); the file is damaged")
                                {:tensor summary :key :data})))
               actual (crc32 raw)]
           (when-not (= (long checksum) actual)
             (fail (str "checksum mismatch: :crc32 says " checksum ", the data gives "
                        actual "; the file is damaged")
                   {:tensor summary :key :crc32 :expected checksum :actual actual}))
           (when-not (= nbytes (alength ^bytes raw))
             (fail (str ":data is truncated: " (alength ^bytes raw) " bytes for " nbytes)
                   {:tensor summary :key :data}))
           (let [values (decode dtype raw n)]
             {:dtype dtype :shape shape
              :data (if (= as :vectors) (nest values shape) values)})))))))

;; --- printing ---------------------------------------------------------------------

(def ^:private array-dtypes
  "The dtypes each kind of array can be printed as; the first is the default."
  {(Class/forName "[F") [:float32 :float16 :bfloat16]
   (Class/forName "[D") [:float64]
   (Class/forName "[J") [:int64]})

(defn- narrow
  "Little-endian 16-bit values of the float[] `array`, each exactly representable."
  ^bytes [^floats array dtype]
  (let [n (alength array)
        wide (little-endian (ByteBuffer/allocate (* 4 n)))
        bits (int-array n)
        out (little-endian (ByteBuffer/allocate (* 2 n)))
        shorts (.asShortBuffer out)]
    (.put (.asFloatBuffer wide) array)
    (.get (.asIntBuffer wide) bits)
    (dotimes [i n]
      (let [f (bit-and (long (aget bits i)) 0xffffffff)
            h (if (= dtype :float16) (float-bits->half-bits f) (float-bits->bfloat-bits f))]
        (when-not h
          (throw (ex-info (str tag " value " (aget array i) " at index " i " has no exact "
                               dtype " form")
                          {:dtype dtype :index i :value (aget array i)})))
        (.put shorts (int i) (unchecked-short h))))
    (.array out)))

(defn- raw-bytes ^bytes [array dtype]
  (let [n (count array)]
    (case dtype
      :float32 (let [b (little-endian (ByteBuffer/allocate (* 4 n)))]
                 (.put (.asFloatBuffer b) ^floats array) (.array b))
      :float64 (let [b (little-endian (ByteBuffer/allocate (* 8 n)))]
                 (.put (.asDoubleBuffer b) ^doubles array) (.array b))
      :int64 (let [b (little-endian (ByteBuffer/allocate (* 8 n)))]
               (.put (.asLongBuffer b) ^longs array) (.array b))
      (:float16 :bfloat16) (narrow array dtype))))

(defn tensor->edn
  "The text of a `#cortex-bridge/tensor` literal, as `bridge/edn/tensor_tag.py` writes it.

  `(tensor->edn array shape)` prints a float[] as :float32, a double[] as :float64 and a
  long[] as :int64; `(tensor->edn array shape {:dtype :float16})` (or :bfloat16) prints
  a float[] as 16-bit values, each of which must be exact in that dtype (a value read
  from such a literal always is). `(tensor->edn {:dtype :shape :data})` prints what
  `read-tensor` returned. The shape's element count must equal the array's length."
  ([{:keys [dtype shape data]}] (tensor->edn data shape {:dtype dtype}))
  ([array shape] (tensor->edn array shape {}))
  ([array shape {:keys [dtype]}]
   (let [allowed (get array-dtypes (class array))
         dtype (or dtype (first allowed))]
     (when-not allowed
       (throw (ex-info (str tag " prints float[], double[] or long[]. Received: "
                            (pr-str (class array)))
                       {:class (class array)})))
     (when-not (some #{dtype} allowed)
       (throw (ex-info (str tag " a " (.getSimpleName ^Class (class array)) " prints as "
                            (str/join " " allowed) ". Received: :dtype " (pr-str dtype))
                       {:class (class array) :dtype dtype})))
     (check-shape shape {:dtype dtype :shape shape})
     (when-not (= (reduce *' 1 shape) (count array))
       (throw (ex-info (str tag " :shape " (pr-str (vec shape)) " holds " (reduce *' 1 shape)
                            " values but the array has " (count array))
                       {:shape (vec shape) :length (count array)})))
     (let [raw (raw-bytes array dtype)]
       (str tag " {:dtype " dtype " :shape [" (str/join " " (map long shape)) "] :data \""
            (.encodeToString (Base64/getEncoder) raw) "\" :crc32 " (crc32 raw) "}")))))
