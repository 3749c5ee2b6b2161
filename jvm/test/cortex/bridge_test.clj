(ns cortex.bridge-test
  "Runs inside a JVM hosted by Python (the test suite starts one)."
  (:require [clojure.test :refer [deftest is testing]]
            [cortex.bridge :as bridge]
            [cortex.nn :as nn]
            [cortex.nn.layers :as layers]
            [cortex.optimizers :as optim]))

(def xor [{:x [0.0 0.0] :y [0.0]} {:x [0.0 1.0] :y [1.0]}
          {:x [1.0 0.0] :y [1.0]} {:x [1.0 1.0] :y [0.0]}])

(deftest load-train-run-weights-round-trip
  (let [net (bridge/load-model [(layers/input 2 1 1 :id :x) (layers/linear->tanh 10)
                                (layers/linear 1 :id :y)] {:seed 1})
        history (bridge/train! net xor {:epochs 200 :batch-size 4 :log nil
                                        :optimizer (optim/sgd :learning-rate 0.1)})
        outputs (mapv (comp first :y) (bridge/run net xor))]
    (is (= 200 (count history)))
    (is (< (:train-loss (last history)) 0.05))
    (is (every? true? (map #(< (Math/abs (- %1 %2)) 0.3) outputs [0.0 1.0 1.0 0.0])))
    (let [w (bridge/weights net)]
      (is (= [10 2] (get-in w [:linear-1 :weights :shape])))
      (is (= 20 (alength ^floats (get-in w [:linear-1 :weights :data])))))
    (is (= [10] (map count (get-in (bridge/weights net {:as :vectors}) [:y :weights])))
        "vectors on request, in Cortex's [out in] layout")))

(deftest the-kept-epoch-travels-with-the-history
  (let [net (bridge/load-model [(layers/input 2 1 1 :id :x) (layers/linear->tanh 4)
                                (layers/linear 1 :id :y)] {:seed 2})
        history (bridge/train! net xor {:epochs 12 :batch-size 4 :log nil :validation xor
                                        :keep-best true
                                        :optimizer (optim/sgd :learning-rate 0.05)})
        kept (:best-epoch (meta history))]
    (is (vector? history))
    (is (= kept (:epoch (first (sort-by :validation-loss history))))
        "the first epoch with the lowest validation loss, as Python keeps it")
    (is (nil? (:best-epoch (meta (bridge/train! net xor {:epochs 1 :log nil})))))))

(deftest save-and-load-keep-every-bit
  (let [net (bridge/load-model [(layers/input 3 1 1 :id :x) (layers/linear 2 :id :y)] {:seed 2})
        path (str (java.io.File/createTempFile "net" ".edn"))]
    (bridge/save! net path)
    (let [again (bridge/load-network path)
          a (get-in (bridge/weights net) [:y :weights :data])
          b (get-in (bridge/weights again) [:y :weights :data])]
      (is (= (map #(Float/floatToRawIntBits %) a) (map #(Float/floatToRawIntBits %) b))))
    (testing "a plain Clojure reader sees the same numbers"
      (let [data (cortex.bridge.edn/read-network path)
            weights (:weights (second (:description data)))]
        (is (= [2 3] (:shape weights)))))))

(deftest wrong-data-names-the-stream-and-item
  (let [net (bridge/load-model [(layers/input 2 1 1 :id :x) (layers/linear 1 :id :y)])]
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"stream :x item 1 has 3 values; item 0 has 2"
                          (bridge/train! net [{:x [0 0] :y [0]} {:x [0 0 1] :y [1]}] {:log nil})))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"item 1 has no stream :y"
                          (bridge/train! net [{:x [0 0] :y [0]} {:x [0 1]}] {:log nil})))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"stream :x item 0 holds \"a\""
                          (bridge/train! net [{:x ["a" 0] :y [0]}] {:log nil})))
    (let [e (try (bridge/train! net [{:x [0 0] :z [0]}] {:log nil}) nil
                 (catch clojure.lang.ExceptionInfo e e))]
      (is (= "DataError" (:python/type (ex-data e))))
      (is (re-find #"stream :z matches no layer" (:python/message (ex-data e)))))))

(deftest tutorial-facade
  (let [model (nn/sequential [(nn/input 2) (nn/dense 8) (nn/relu) (nn/dense 2) (nn/softmax)])
        data (for [i (range 64)] {:data [(mod i 2) (mod (quot i 2) 2)] :labels (mod i 2)})]
    (is (identical? model (nn/train model data (optim/adam :alpha 0.05) :epochs 30
                                    :batch-size 8 :log nil)))
    (is (< 0.9 (nn/evaluate model data)))))

(deftest an-on-epoch-function-sees-each-epoch-and-can-stop-the-run
  (let [net (bridge/load-model [(layers/input 2 1 1 :id :x) (layers/linear 1 :id :y)] {:seed 2})
        seen (atom [])
        history (bridge/train! net xor {:epochs 10 :batch-size 4 :log nil
                                        :on-epoch (fn [entry]
                                                    (swap! seen conj entry)
                                                    (when (= 3 (:epoch entry)) :stop))})]
    (is (= [1 2 3] (mapv :epoch @seen)) "the function gets Clojure maps, in order")
    (is (every? number? (map :train-loss @seen)))
    (is (= 3 (count history)) ":stop ends the run after that epoch")))
