(ns cortex.bridge.tensor-test
  "The #cortex-bridge/tensor literal: golden texts written by Python's
  bridge/edn/tensor_tag.py, bit-exact round trips for every dtype, and damaged input."
  (:require [clojure.edn :as edn]
            [clojure.string :as str]
            [clojure.test :refer [deftest is are testing]]
            [cortex.bridge.edn :as bridge-edn]
            [cortex.bridge.tensor :as tensor]))

(defn- read-edn [text] (edn/read-string {:readers bridge-edn/readers} text))
(defn- round-trip
  ([array shape] (read-edn (tensor/tensor->edn array shape)))
  ([array shape dtype] (read-edn (tensor/tensor->edn array shape {:dtype dtype}))))

(defn- float-bits [^floats a] (mapv #(Float/floatToRawIntBits %) a))
(defn- double-bits [^doubles a] (mapv #(Double/doubleToRawLongBits %) a))
(defn- floats-of-bits [bits] (float-array (map #(Float/intBitsToFloat (unchecked-int %)) bits)))

(defn- error-of
  "[message data] of the ex-info `f` throws, or nil."
  [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e [(ex-message e) (ex-data e)])))

;; Texts printed by Python (bridge.edn.dumps of encode_tensor) for these exact values.
(def golden
  {:float32 ["#cortex-bridge/tensor {:dtype :float32 :shape [2] :data \"AACAPwAAAIA=\" :crc32 3042666438}"
             [0x3f800000 0x80000000]]
   :int64 ["#cortex-bridge/tensor {:dtype :int64 :shape [2 2] :data \"AQAAAAAAAAD+/////////wMAAAAAAAAABAAAAAAAAAA=\" :crc32 1751375493}"
           [1 -2 3 4]]
   :float16 ["#cortex-bridge/tensor {:dtype :float16 :shape [2] :data \"ADwAwA==\" :crc32 2538668376}"
             [0x3f800000 0xc0000000]]
   :bfloat16 ["#cortex-bridge/tensor {:dtype :bfloat16 :shape [2] :data \"gD8AwA==\" :crc32 2018380090}"
              [0x3f800000 0xc0000000]]
   :float64 ["#cortex-bridge/tensor {:dtype :float64 :shape [1] :data \"mpmZmZmZuT8=\" :crc32 4138095560}"
             [(Double/doubleToRawLongBits 0.1)]]})

(deftest reads-what-python-writes
  (doseq [[dtype [text bits]] golden]
    (testing dtype
      (let [{:keys [data] :as t} (read-edn text)]
        (is (= dtype (:dtype t)))
        (is (= bits (case dtype
                      (:float32 :float16 :bfloat16) (mapv #(bit-and (long %) 0xffffffff)
                                                          (float-bits data))
                      :float64 (double-bits data)
                      :int64 (vec data))))))))

(deftest prints-what-python-writes
  (testing "the same text, byte for byte"
    (is (= (first (:float32 golden)) (tensor/tensor->edn (float-array [1.0 -0.0]) [2])))
    (is (= (first (:int64 golden)) (tensor/tensor->edn (long-array [1 -2 3 4]) [2 2])))
    (is (= (first (:float16 golden))
           (tensor/tensor->edn (float-array [1 -2]) [2] {:dtype :float16})))
    (is (= (first (:bfloat16 golden))
           (tensor/tensor->edn (float-array [1 -2]) [2] {:dtype :bfloat16})))
    (is (= (first (:float64 golden)) (tensor/tensor->edn (double-array [0.1]) [1])))))

(def special-float-bits
  "-0.0, quiet and signalling NaNs with payloads and both signs, infinities, the smallest
  subnormal, the largest finite value, an ordinary value."
  [0x80000000 0x7fc00001 0xffc12345 0x7f800001 0x7f800000 0xff800000 0x00000001
   0x7f7fffff 0x3dcccccd])

(deftest float32-round-trip-is-bit-exact
  (let [values (floats-of-bits special-float-bits)
        {:keys [dtype shape data]} (round-trip values [3 3])]
    (is (= [:float32 [3 3]] [dtype shape]))
    (is (= (float-bits values) (float-bits data)))))

(deftest float64-round-trip-is-bit-exact
  (let [values (double-array (map #(Double/longBitsToDouble %)
                                  [(unchecked-long 0x8000000000000000) 0x7ff8000000000001
                                   (unchecked-long 0xfff0000000abcdef) 1 0x7fefffffffffffff
                                   (Double/doubleToRawLongBits 0.1)]))]
    (is (= (double-bits values) (double-bits (:data (round-trip values [2 3])))))))

(deftest int64-round-trip
  (let [values (long-array [Long/MIN_VALUE -1 0 1 Long/MAX_VALUE 1234567890123])]
    (is (= (vec values) (vec (:data (round-trip values [6])))))))

(deftest sixteen-bit-round-trips-are-bit-exact
  (testing "float16: -0.0, NaN payloads (quiet, signalling, negative), infinities, the
            smallest subnormal, the largest subnormal and finite values"
    (let [bits [0x80000000 0x7fc02000 0xffc02000 0x7f802000 0x7f800000 0xff800000
                0x33800000 0x387fc000 0x477fe000 0x3f800000]
          {:keys [dtype data]} (round-trip (floats-of-bits bits) [10] :float16)]
      (is (= :float16 dtype))
      (is (= bits (mapv #(bit-and (long %) 0xffffffff) (float-bits data))))))
  (testing "bfloat16"
    (let [bits [0x80000000 0x7fc10000 0xff810000 0x7f800000 0x00010000 0x7f7f0000 0x3f800000]
          {:keys [data]} (round-trip (floats-of-bits bits) [7] :bfloat16)]
      (is (= bits (mapv #(bit-and (long %) 0xffffffff) (float-bits data))))))
  (testing "values with no exact 16-bit form are refused"
    (is (re-find #"value 0.1 at index 0 has no exact :float16 form"
                 (first (error-of #(tensor/tensor->edn (float-array [0.1]) [1]
                                                       {:dtype :float16})))))
    (is (re-find #"no exact :bfloat16 form"
                 (first (error-of #(tensor/tensor->edn (float-array [0.1]) [1]
                                                       {:dtype :bfloat16})))))
    (is (error-of #(tensor/tensor->edn (float-array [1.0E-45]) [1] {:dtype :float16})))
    (is (error-of #(tensor/tensor->edn (float-array [65536.0]) [1] {:dtype :float16})))))

(deftest a-read-tensor-prints-back-as-the-same-text
  (doseq [[_ [text]] golden]
    (is (= text (tensor/tensor->edn (read-edn text))))))

(deftest shapes
  (testing "nested vectors on request, C order"
    (is (= [[1.0 2.0 3.0] [4.0 5.0 6.0]]
           (:data (edn/read-string {:readers bridge-edn/vector-readers}
                                   (tensor/tensor->edn (float-array [1 2 3 4 5 6]) [2 3]))))))
  (testing "a scalar and empty tensors"
    (is (= 7.0 (:data (edn/read-string {:readers bridge-edn/vector-readers}
                                       (tensor/tensor->edn (double-array [7]) [])))))
    (is (= [[] []] (:data (edn/read-string {:readers bridge-edn/vector-readers}
                                           (tensor/tensor->edn (long-array 0) [2 0])))))
    (is (= 0 (count (:data (round-trip (float-array 0) [0 5])))))))

(deftest damaged-or-malformed-literals-are-refused
  (let [text (tensor/tensor->edn (float-array [1 2 3 4]) [4])
        data (second (re-find #":data \"([^\"]+)\"" text))
        crc (second (re-find #":crc32 (\d+)" text))
        literal (fn [& {:as m}]
                  (read-edn (str "#cortex-bridge/tensor "
                                 (pr-str (merge {:dtype :float32 :shape [4] :data data
                                                 :crc32 (Long/parseLong crc)} m)))))]
    (are [pattern thunk] (re-find pattern (or (first (error-of thunk)) ""))
      #"checksum mismatch: :crc32 says \d+, the data gives \d+; the file is damaged"
      #(read-edn (str/replace-first text ":data \"A" ":data \"B"))

      #":data is truncated: :shape \[5\] of :float32 needs 20 bytes, 28 base64 characters; found 24"
      #(read-edn (str/replace text ":shape [4]" ":shape [5]"))

      #":data is too long"
      #(read-edn (str/replace text ":shape [4]" ":shape [3]"))

      #":data is not valid base64"
      #(literal :data (str "*" (subs data 1)))

      #":dtype must be one of :float32 :float64 :int64 :float16 :bfloat16. Received: :dtype :int8"
      #(literal :dtype :int8)

      #":shape must be a vector of non-negative integers. Received: \[-4\]"
      #(literal :shape [-4])

      #"has unknown keys :order"
      #(literal :order :c)

      #":crc32 must be an unsigned 32-bit integer"
      #(literal :crc32 -1)

      #"needs :crc32"
      #(read-edn (str/replace text #" :crc32 \d+" ""))

      #"declares 1000000000000 values, over the limit"
      #(literal :shape [1000000 1000000])

      #"declares 4 values, over the limit of 3"
      #(tensor/read-tensor (edn/read-string (subs text (count "#cortex-bridge/tensor ")))
                           {:max-elements 3}))
    (testing "the data names the literal and the key"
      (let [[_ data] (error-of #(literal :dtype :int8))]
        (is (= :dtype (:key data)))
        (is (= [4] (:shape (:tensor data))))))))

(deftest printing-checks-its-arguments
  (are [pattern thunk] (re-find pattern (or (first (error-of thunk)) ""))
    #":shape \[2 3\] holds 6 values but the array has 4"
    #(tensor/tensor->edn (float-array 4) [2 3])

    #"prints float\[\], double\[\] or long\[\]"
    #(tensor/tensor->edn (int-array 4) [4])

    #"a double\[\] prints as :float64. Received: :dtype :float16"
    #(tensor/tensor->edn (double-array 1) [1] {:dtype :float16})))
