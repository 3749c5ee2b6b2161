(ns cortex.bridge.tensor
  "The #cortex-bridge/tensor literal in plain Clojure (no Python needed):
  {:dtype :float32 :shape [128 784] :data \"<base64, little-endian, C order>\" :crc32 n}
  for :float32 (-> float[]), :float64 (-> double[]), :int64 (-> long[]), and :float16
  and :bfloat16 (widened to float[]). Bits survive exactly, -0.0 and NaN payloads
  included."
  (:import (java.nio ByteBuffer ByteOrder)
           (java.util Base64)
           (java.util.zip CRC32)))

(def ^:private item-sizes {:float32 4 :float64 8 :int64 8 :float16 2 :bfloat16 2})

(defn- crc32 ^long [^bytes raw]
  (let [c (CRC32.)] (.update c raw) (.getValue c)))

(defn- half->float ^double [^long bits]
  (let [sign (if (zero? (bit-and bits 0x8000)) 1.0 -1.0)
        exponent (bit-and (bit-shift-right bits 10) 0x1f)
        mantissa (bit-and bits 0x3ff)]
    (cond
      (zero? exponent) (* sign (Math/scalb (double mantissa) (int -24)))
      (= exponent 31) (if (zero? mantissa)
                        (* sign Double/POSITIVE_INFINITY)
                        Double/NaN)
      :else (* sign (Math/scalb (double (+ 1024.0 mantissa)) (int (- exponent 25)))))))

(defn- decode [dtype ^bytes raw n]
  (let [buffer (.order (ByteBuffer/wrap raw) ByteOrder/LITTLE_ENDIAN)]
    (case dtype
      :float32 (let [out (float-array n)] (.get (.asFloatBuffer buffer) out) out)
      :float64 (let [out (double-array n)] (.get (.asDoubleBuffer buffer) out) out)
      :int64 (let [out (long-array n)] (.get (.asLongBuffer buffer) out) out)
      :bfloat16 (let [shorts (.asShortBuffer buffer) out (float-array n)]
                  (dotimes [i n]
                    (aset out i (Float/intBitsToFloat
                                 (bit-shift-left (bit-and (long (.get shorts (int i))) 0xffff)
                                                 16))))
                  out)
      :float16 (let [shorts (.asShortBuffer buffer) out (float-array n)]
                 (dotimes [i n]
                   (aset out i (float (half->float (bit-and (long (.get shorts (int i)))
                                                            0xffff)))))
                 out))))

(defn- nest
  "Nested vectors of `values` in `shape` (C order)."
  [values shape]
  (let [flat (vec values)]
    (if (<= (count shape) 1)
      flat
      (let [inner (reduce * (rest shape))]
        (mapv #(nest (subvec flat (* % inner) (* (inc %) inner)) (rest shape))
              (range (first shape)))))))

(defn read-tensor
  "The map of a tensor literal -> {:dtype :shape :data <primitive array>}, checking the
  size, the byte count and the checksum. With {:as :vectors}, :data is nested vectors."
  ([m] (read-tensor m {}))
  ([{:keys [dtype shape data] checksum :crc32 :as m} {:keys [as max-elements]
                                           :or {max-elements 2000000000}}]
   (when-not (contains? item-sizes dtype)
     (throw (ex-info (str "#cortex-bridge/tensor :dtype must be one of "
                          (vec (keys item-sizes)) ", got " dtype)
                     {:tensor (dissoc m :data)})))
   (when-not (and (sequential? shape) (every? #(and (integer? %) (not (neg? %))) shape))
     (throw (ex-info "#cortex-bridge/tensor :shape must be a vector of non-negative integers"
                     {:shape shape})))
   (let [n (reduce * 1 shape)
         expected (* n (item-sizes dtype))]
     (when (> n max-elements)
       (throw (ex-info (str "#cortex-bridge/tensor declares " n " values, over the limit")
                       {:shape shape :max-elements max-elements})))
     (let [raw (try (.decode (Base64/getDecoder) ^String data)
                    (catch IllegalArgumentException e
                      (throw (ex-info "#cortex-bridge/tensor :data is not valid base64"
                                      {:shape shape} e))))]
       (when-not (= (alength ^bytes raw) expected)
         (throw (ex-info (str "#cortex-bridge/tensor :data has " (alength ^bytes raw)
                              " bytes but :shape " shape " of " dtype " needs " expected
                              " (truncated?)")
                         {:shape shape :bytes (alength ^bytes raw) :expected expected})))
       (when (and checksum (not= (long checksum) (crc32 raw)))
         (throw (ex-info "#cortex-bridge/tensor checksum mismatch (the file is damaged)"
                         {:expected checksum :actual (crc32 raw)})))
       (let [values (decode dtype raw n)]
         {:dtype dtype :shape (vec shape)
          :data (if (= as :vectors) (nest values shape) values)})))))

(defn tensor->edn
  "EDN text of a tensor literal for a primitive array (float[], double[] or long[])."
  [array shape]
  (let [[dtype size] (cond (instance? (Class/forName "[F") array) [:float32 4]
                           (instance? (Class/forName "[D") array) [:float64 8]
                           (instance? (Class/forName "[J") array) [:int64 8]
                           :else (throw (ex-info "tensor->edn takes float[], double[] or long[]"
                                                 {:class (class array)})))
        n (count array)
        buffer (.order (ByteBuffer/allocate (* n size)) ByteOrder/LITTLE_ENDIAN)]
    (case dtype
      :float32 (.put (.asFloatBuffer buffer) ^floats array)
      :float64 (.put (.asDoubleBuffer buffer) ^doubles array)
      :int64 (.put (.asLongBuffer buffer) ^longs array))
    (let [raw (.array buffer)]
      (str "#cortex-bridge/tensor {:dtype " dtype " :shape " (pr-str (vec shape))
           " :data \"" (.encodeToString (Base64/getEncoder) raw) "\" :crc32 " (crc32 raw) "}"))))
