(ns cortex.nn.network-test
  "Cortex's fine-tuning from the REPL: remove the head, append a new one, freeze the rest,
  train; the saved network reloads with its frozen flags."
  (:require [clojure.test :refer [deftest is testing]]
            [cortex.bridge :as bridge]
            [cortex.nn.layers :as layers]
            [cortex.nn.network :as network]))

(def blobs
  (vec (for [i (range 60)]
         (let [c (mod i 3)]
           {:data (mapv #(+ (* 2.0 (dec c)) (* 0.1 (Math/sin (+ i %)))) (range 4))
            :labels (assoc [0.0 0.0 0.0] c 1.0)}))))

(defn- same-floats? [a b] (java.util.Arrays/equals ^floats a ^floats b))

(defn- weights-of [net layer] (get-in (bridge/weights net) [layer :weights :data]))

(deftest remove-the-head-append-a-new-one-freeze-and-train
  (let [net (bridge/load-model [(layers/input 4 1 1 :id :data) (layers/linear->relu 8)
                                (layers/linear 3) (layers/softmax :id :labels)] {:seed 3})
        _ (bridge/train! net blobs {:epochs 2 :batch-size 10 :log nil :seed 0})
        trained (weights-of net :linear-1)
        body (network/dissoc-layers-from-network net :linear-2)
        tuned (-> body
                  (network/assoc-layers-to-network [(layers/linear 2 :id :head)
                                                    (layers/softmax :id :labels)])
                  (network/add-property-to-layer :linear-1 :non-trainable? true))
        two-class (mapv #(assoc % :labels (if (= 1.0 (first (:labels %))) [1.0 0.0] [0.0 1.0]))
                        blobs)]
    (testing "the edits leave their arguments alone and keep the kept layers' values"
      (is (= [:data :linear-1 :relu-1 :linear-2 :labels] (mapv :id (:layers net))))
      (is (= [:data :linear-1 :relu-1] (mapv :id (:layers body))))
      (is (same-floats? trained (weights-of tuned :linear-1))))
    (let [head (weights-of tuned :head)]
      (bridge/train! tuned two-class {:epochs 2 :batch-size 10 :log nil :seed 0})
      (testing "only the new head trains"
        (is (same-floats? trained (weights-of tuned :linear-1)))
        (is (not (same-floats? head (weights-of tuned :head))))))
    (testing "the saved network reloads with the frozen flag"
      (let [file (java.io.File/createTempFile "tuned" ".edn")]
        (bridge/save! tuned (str file))
        (let [again (bridge/load-model (str file))
              node (first (filter #(= :linear-1 (:id %)) (:description again)))]
          (is (true? (:non-trainable? node)))
          (is (same-floats? trained (weights-of again :linear-1))))
        (.delete file)))))

(deftest resize-input-and-freeze-layers
  (let [net (bridge/load-model [(layers/input 4 4 1 :id :x) (layers/convolutional 3 0 1 2)
                                (layers/linear 2 :id :y)] {:seed 1})
        kernels (weights-of net :convolutional-1)]
    (testing "convolution weights survive a new input size; the linear needs :reinitialize"
      (is (thrown? clojure.lang.ExceptionInfo (network/resize-input net 6 6 1)))
      (let [bigger (network/resize-input net 6 6 1 :reinitialize true)]
        (is (same-floats? kernels (weights-of bigger :convolutional-1)))
        (is (= 36 (get-in (bridge/describe bigger) [:input-sizes :x])))))
    (testing "freeze-layers marks every layer with parameters"
      (let [frozen (network/freeze-layers net)]
        (is (every? true? (map :non-trainable?
                               (filter #(#{:convolutional-1 :y} (:id %))
                                       (:description frozen)))))))))
