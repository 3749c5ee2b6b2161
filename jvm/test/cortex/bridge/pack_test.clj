(ns cortex.bridge.pack-test
  (:require [clojure.test :refer [deftest is testing]]
            [cortex.bridge.pack :as pack]))

(defn- floats-of [packed i]
  (let [^java.nio.FloatBuffer b (nth (:buffers packed) i)
        out (float-array (.remaining b))]
    (.get (.duplicate b) out)
    (vec out)))

(deftest every-shape-of-numbers-packs-to-the-same-floats
  (let [flat [{:x [1 2 3 4] :y 1} {:x [5 6 7 8] :y 0}]
        nested [{:x [[1 2] [3 4]] :y 1} {:x (list [5 6] '(7 8)) :y 0}]
        arrays [{:x (float-array [1 2 3 4]) :y 1} {:x (double-array [5 6 7 8]) :y 0.0}]
        ratios [{:x [1 2 3 4N] :y 1} {:x [5 6.0 7 (/ 16 2)] :y 0}]]
    (doseq [items [flat nested arrays ratios]]
      (let [p (pack/pack items)]
        (is (= 2 (:count p)))
        (is (= [{:name "x" :width 4 :dtype :float32 :vector true}
                {:name "y" :width 1 :dtype :float32 :vector false}]
               (:streams p)))
        (is (= [1.0 2.0 3.0 4.0 5.0 6.0 7.0 8.0] (floats-of p 0)))
        (is (= [1.0 0.0] (floats-of p 1)))))))

(deftest bad-items-name-the-stream-and-item
  (let [error (fn [items] (try (pack/pack items) nil (catch clojure.lang.ExceptionInfo e e)))]
    (is (= {:stream :x :item 1 :expected 2 :found 3}
           (ex-data (error [{:x [1 2]} {:x [1 2 3]}]))))
    (is (= {:stream :x :item 1 :expected 2 :found 1}
           (ex-data (error [{:x [1 2]} {:x [[1]]}]))))
    (is (= :x (:stream (ex-data (error [{:x [1 "a"]}])))))
    (is (= "a" (:value (ex-data (error [{:x [1 "a"]}])))))
    (is (re-find #"item 1 has no stream :y" (ex-message (error [{:x 1 :y 2} {:x 1}]))))
    (is (re-find #"empty" (ex-message (error []))))))

(deftest a-persistent-value-is-packed-once
  (let [items (vec (for [i (range 10)] {:x [i i] :y [1]}))]
    (is (identical? (pack/packed items) (pack/packed items)))
    (is (not (identical? (pack/packed items) (pack/packed (into [] items))))
        "another value, even an equal one, is packed anew (identity, not equality)")
    (testing "collections of arrays may change in place, so they are packed every time"
      (let [arrays [{:x (float-array [1 2])}]]
        (is (not (identical? (pack/packed arrays) (pack/packed arrays))))))))
