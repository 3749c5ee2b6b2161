(ns cortex.nn.layers-test
  (:require [clojure.test :refer [deftest is are testing]]
            [cortex.nn.layers :as layers]))

(deftest constructors-return-cortex-maps
  (are [built expected] (= expected built)
    (layers/input 784)
    [{:type :input :output-size 784 :output-width 784 :output-height 1 :output-channels 1
      :width 784}]

    (layers/input 28 28 1 :id :data)
    [{:type :input :output-size 784 :output-width 28 :output-height 28 :output-channels 1
      :id :data}]

    (layers/linear 10 :id :fc)
    [{:type :linear :output-size 10 :id :fc}]

    (layers/convolutional 5 0 1 20)
    [{:type :convolutional :kernel-width 5 :kernel-height 5 :pad-x 0 :pad-y 0 :stride-x 1
      :stride-y 1 :num-kernels 20 :dimension-op :floor :kernel-dim 5 :pad 0 :stride 1}]

    (layers/max-pooling 2 0 2 :pool-op :avg)
    [{:type :max-pooling :kernel-width 2 :kernel-height 2 :pad-x 0 :pad-y 0 :stride-x 2
      :stride-y 2 :num-kernels 0 :dimension-op :ceil :kernel-dim 2 :pad 0 :stride 2
      :pool-op :avg}]

    (layers/dropout 0.8)
    [{:type :dropout :distribution :bernoulli :probability 0.8}]

    (layers/multiplicative-dropout 0.1)
    [{:type :dropout :distribution :gaussian :variance 0.1}]

    (layers/batch-normalization)
    [{:type :batch-normalization :average-factor 0.9 :epsilon 1e-4 :mode :elementwise}]

    (layers/local-response-normalization)
    [{:type :local-response-normalization :k 2 :n 5 :alpha 1e-4 :beta 0.75}]

    (layers/join :parents [:a :b])
    {:type :join :operation :+ :parents [:a :b]}

    (layers/linear->softmax 2 :id :out)
    [{:type :linear :output-size 2} {:type :softmax :id :out}]

    (layers/linear->relu 100 :l2-regularization 1e-3)
    [{:type :linear :output-size 100 :l2-regularization 1e-3}
     {:type :relu :l2-regularization 1e-3}]))

(deftest constructor-errors-name-the-problem
  (testing "pool operations"
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"three possible pool operations"
                          (layers/max-pooling 2 0 2 :pool-op :median))))
  (testing "batch-norm epsilon"
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"minimum epsilon"
                          (layers/batch-normalization :epsilon 1e-6))))
  (testing "odd options"
    (is (thrown? clojure.lang.ExceptionInfo (layers/linear 10 :id)))))
