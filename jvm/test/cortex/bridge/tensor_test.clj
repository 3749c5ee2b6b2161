(ns cortex.bridge.tensor-test
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [cortex.bridge.edn :as bridge-edn]
            [cortex.bridge.tensor :as tensor]))

(defn- round-trip [array shape]
  (edn/read-string {:readers bridge-edn/readers} (tensor/tensor->edn array shape)))

(defn- same-float-bits? [^floats a ^floats b]
  (and (= (alength a) (alength b))
       (every? #(= (Float/floatToRawIntBits (aget a %)) (Float/floatToRawIntBits (aget b %)))
               (range (alength a)))))

(deftest float32-round-trip-is-bit-exact
  (let [values (float-array [1.5 -0.0 Float/NaN Float/POSITIVE_INFINITY 1.0E-45 3.4028235E38])
        {:keys [dtype shape data]} (round-trip values [2 3])]
    (is (= :float32 dtype))
    (is (= [2 3] shape))
    (is (same-float-bits? values data))))

(deftest float64-and-int64
  (let [doubles (double-array [0.1 -0.0 1e300])
        longs (long-array [1 -2 Long/MAX_VALUE])]
    (is (= (map #(Double/doubleToRawLongBits %) doubles)
           (map #(Double/doubleToRawLongBits %) (:data (round-trip doubles [3])))))
    (is (= (vec longs) (vec (:data (round-trip longs [3])))))))

(deftest vectors-on-request
  (let [text (tensor/tensor->edn (float-array [1 2 3 4 5 6]) [2 3])
        value (edn/read-string {:readers bridge-edn/vector-readers} text)]
    (is (= [[1.0 2.0 3.0] [4.0 5.0 6.0]] (:data value)))))

(deftest damaged-data-is-refused
  (let [text (tensor/tensor->edn (float-array [1 2 3 4]) [4])
        flipped (clojure.string/replace-first text #":data \"A" ":data \"B")
        short-shape (clojure.string/replace text ":shape [4]" ":shape [5]")]
    (testing "checksum"
      (is (thrown-with-msg? clojure.lang.ExceptionInfo #"checksum mismatch"
                            (edn/read-string {:readers bridge-edn/readers} flipped))))
    (testing "truncation"
      (is (thrown-with-msg? clojure.lang.ExceptionInfo #"truncated"
                            (edn/read-string {:readers bridge-edn/readers} short-shape))))))
