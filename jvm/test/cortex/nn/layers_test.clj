(ns cortex.nn.layers-test
  "Constructor output equals the maps of cortex-spec §1, written out literally."
  (:require [clojure.test :refer [deftest is are testing]]
            [cortex.nn.layers :as layers]
            [cortex.optimize.adadelta :as adadelta]
            [cortex.optimize.adam :as adam]
            [cortex.optimize.sgd :as sgd]
            [cortex.optimizers :as optim]))

(deftest input-layers
  (are [built expected] (= expected built)
    (layers/input 784)
    [{:type :input :output-size 784 :output-width 784 :output-height 1 :output-channels 1
      :width 784}]

    (layers/input {:width 28 :height 28 :channels 3 :id :image})
    [{:type :input :output-size 2352 :output-width 28 :output-height 28 :output-channels 3
      :width 28 :height 28 :channels 3 :id :image}]

    (layers/input 32 16 3 :id :data)
    [{:type :input :output-size 1536 :output-width 32 :output-height 16 :output-channels 3
      :id :data}]))

(deftest linear-layers
  (are [built expected] (= expected built)
    (layers/linear 10)
    [{:type :linear :output-size 10}]

    (layers/linear 10 :id :fc :weights {:initialization {:type :orthogonal}})
    [{:type :linear :output-size 10 :id :fc :weights {:initialization {:type :orthogonal}}}]

    (layers/linear {:output-size 10 :id :fc})
    [{:type :linear :output-size 10 :id :fc}]))

(deftest window-layers
  (are [built expected] (= expected built)
    (layers/convolutional 5 0 1 20)
    [{:type :convolutional :kernel-width 5 :kernel-height 5 :pad-x 0 :pad-y 0 :stride-x 1
      :stride-y 1 :num-kernels 20 :dimension-op :floor :kernel-dim 5 :pad 0 :stride 1}]

    (layers/convolutional 3 1 2 8 :id :conv)
    [{:type :convolutional :kernel-width 3 :kernel-height 3 :pad-x 1 :pad-y 1 :stride-x 2
      :stride-y 2 :num-kernels 8 :dimension-op :floor :kernel-dim 3 :pad 1 :stride 2
      :id :conv}]

    (layers/convolutional {:kernel-dim 3 :pad 1 :stride 1 :num-kernels 4 :id :c})
    [{:type :convolutional :kernel-width 3 :kernel-height 3 :pad-x 1 :pad-y 1 :stride-x 1
      :stride-y 1 :num-kernels 4 :dimension-op :floor :kernel-dim 3 :pad 1 :stride 1 :id :c}]

    (layers/max-pooling 2 0 2)
    [{:type :max-pooling :kernel-width 2 :kernel-height 2 :pad-x 0 :pad-y 0 :stride-x 2
      :stride-y 2 :num-kernels 0 :dimension-op :ceil :kernel-dim 2 :pad 0 :stride 2
      :pool-op :max}]

    (layers/max-pooling 3 1 2 :pool-op :avg-exc-pad :dimension-op :floor)
    [{:type :max-pooling :kernel-width 3 :kernel-height 3 :pad-x 1 :pad-y 1 :stride-x 2
      :stride-y 2 :num-kernels 0 :dimension-op :floor :kernel-dim 3 :pad 1 :stride 2
      :pool-op :avg-exc-pad}]

    (layers/max-pooling {:kernel-dim 2 :pad 0 :stride 2 :pool-op :avg})
    [{:type :max-pooling :kernel-width 2 :kernel-height 2 :pad-x 0 :pad-y 0 :stride-x 2
      :stride-y 2 :num-kernels 0 :dimension-op :ceil :kernel-dim 2 :pad 0 :stride 2
      :pool-op :avg}]

    (layers/convolutional-type-layer :convolutional 3 5 1 2 1 2 16 :floor :id :wide)
    {:type :convolutional :kernel-width 3 :kernel-height 5 :pad-x 1 :pad-y 2 :stride-x 1
     :stride-y 2 :num-kernels 16 :dimension-op :floor :id :wide}))

(deftest dropout-layers
  (are [built expected] (= expected built)
    (layers/dropout 0.8)
    [{:type :dropout :distribution :bernoulli :probability 0.8}]

    (layers/dropout {:probability 0.5 :id :drop})
    [{:type :dropout :distribution :bernoulli :probability 0.5 :id :drop}]

    (layers/multiplicative-dropout 0.1)
    [{:type :dropout :distribution :gaussian :variance 0.1}]

    (layers/multiplicative-dropout {:variance 0.0})
    [{:type :dropout :distribution :gaussian :variance 0.0}]))

(deftest activation-layers
  (are [built expected] (= expected built)
    (layers/relu) [{:type :relu}]
    (layers/relu :id :r) [{:type :relu :id :r}]
    (layers/logistic) [{:type :logistic}]
    (layers/tanh) [{:type :tanh}]
    (layers/swish) [{:type :swish}]
    (layers/selu) [{:type :selu}]
    (layers/prelu :id :p) [{:type :prelu :id :p}]
    (layers/softmax) [{:type :softmax}]
    (layers/softmax :output-channels 4) [{:type :softmax :output-channels 4}]))

(deftest normalization-layers
  (are [built expected] (= expected built)
    (layers/batch-normalization)
    [{:type :batch-normalization :average-factor 0.9 :epsilon 1e-4 :mode :elementwise}]

    (layers/batch-normalization :ave-factor 0.8 :epsilon 1e-3 :mode :spatial :id :bn)
    [{:type :batch-normalization :average-factor 0.8 :ave-factor 0.8 :epsilon 1e-3
      :mode :spatial :id :bn}]

    (layers/local-response-normalization)
    [{:type :local-response-normalization :k 2 :n 5 :alpha 1e-4 :beta 0.75}]

    (layers/local-response-normalization :n 3 :k 1)
    [{:type :local-response-normalization :k 1 :n 3 :alpha 1e-4 :beta 0.75}]))

(deftest graph-layers
  (are [built expected] (= expected built)
    (layers/concatenate :parents [:a :b] :id :cat)
    [{:type :concatenate :parents [:a :b] :id :cat}]

    (layers/split :id :s)
    [{:type :split :id :s}]

    (layers/join :parents [:a :b])
    {:type :join :operation :+ :parents [:a :b]}

    (layers/join :operation :* :parents [:a :b])
    {:type :join :operation :* :parents [:a :b]}))

(deftest composites
  (testing ":id only on the activation, every other option on both"
    (are [built expected] (= expected built)
      (layers/linear->softmax 2 :id :out)
      [{:type :linear :output-size 2} {:type :softmax :id :out}]

      (layers/linear->relu 100 :l2-regularization 1e-3)
      [{:type :linear :output-size 100 :l2-regularization 1e-3}
       {:type :relu :l2-regularization 1e-3}]

      (layers/linear->swish 5 :id :s)
      [{:type :linear :output-size 5} {:type :swish :id :s}]

      (layers/linear->selu 5) [{:type :linear :output-size 5} {:type :selu}]
      (layers/linear->tanh 5) [{:type :linear :output-size 5} {:type :tanh}]
      (layers/linear->logistic 5) [{:type :linear :output-size 5} {:type :logistic}]))
  (testing "linear->softmax is a vector, the others sequences (as in Cortex)"
    (is (vector? (layers/linear->softmax 2)))
    (is (seq? (layers/linear->relu 2)))))

(defn- error-of
  "[message data] of the ex-info `f` throws, or nil."
  [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e [(ex-message e) (ex-data e)])))

(deftest errors-say-what-and-name-the-node
  (are [thunk message] (= message (first (error-of thunk)))
    #(layers/max-pooling 2 0 2 :pool-op :median)
    "max-pooling :pool-op must be one of :max :avg :avg-exc-pad. Received: :pool-op :median"

    #(layers/max-pooling {:kernel-dim 2 :pad 0 :stride 2 :pool-op :sum})
    "max-pooling :pool-op must be one of :max :avg :avg-exc-pad. Received: :pool-op :sum"

    #(layers/batch-normalization :epsilon 1e-6)
    "batch-normalization :epsilon must be at least 1e-5. Received: :epsilon 1.0E-6"

    #(layers/batch-normalization :mode :channel)
    "batch-normalization :mode must be one of :elementwise :spatial. Received: :mode :channel"

    #(layers/convolutional 3 0 0 8)
    "convolutional :stride must be a positive integer. Received: :stride 0"

    #(layers/convolutional 0 0 1 8)
    "convolutional :kernel-dim must be a positive integer. Received: :kernel-dim 0"

    #(layers/convolutional 3 0 1 0)
    "convolutional :num-kernels must be a positive integer. Received: :num-kernels 0"

    #(layers/convolutional {:kernel-dim 3 :pad 0 :stride 1})
    "convolutional needs :num-kernels in its map; it has [:kernel-dim :pad :stride]"

    #(layers/convolutional-type-layer :convolutional 3 3 0 0 1 0 4 :floor)
    "convolutional :stride-y must be a positive integer. Received: :stride-y 0"

    #(layers/input 0)
    "input :width must be a positive integer. Received: :width 0"

    #(layers/input {:height 28})
    "input :width must be a positive integer. Received: :width nil"

    #(layers/linear {:id :fc})
    "linear :output-size must be a positive integer. Received: :output-size nil"

    #(layers/linear 10 :id)
    "linear options must be keyword/value pairs. Received: [:id]"

    #(layers/linear->relu 10 :id)
    "linear->relu options must be keyword/value pairs. Received: [:id]"

    #(layers/dropout 0.0)
    (str "dropout :probability must be a number in (0, 1], the probability to keep a value. "
         "Received: :probability 0.0")

    #(layers/multiplicative-dropout -0.5)
    "dropout :variance must be a non-negative number. Received: :variance -0.5"

    #(layers/join :operation :-)
    "join :operation must be one of :+ :*. Received: :operation :-")
  (testing "the data holds the node, with its id"
    (let [[_ data] (error-of #(layers/max-pooling 2 0 2 :pool-op :median :id :pool))]
      (is (= :pool (:id (:node data))))
      (is (= :max-pooling (:type (:node data))))
      (is (= [:pool-op :median] [(:key data) (:value data)]))
      (is (= #{:max :avg :avg-exc-pad} (:possible-operation-set data))))
    (is (= {:type :linear :output-size 10} (:node (second (error-of #(layers/linear 10 :id))))))))

(deftest optimizers-are-maps-with-cortex-defaults
  (are [built expected] (= expected built)
    (optim/sgd :learning-rate 0.01) {:type :sgd :learning-rate 0.01 :momentum 0.9}
    (sgd/sgd) {:type :sgd :learning-rate 0.001 :momentum 0.9}
    (optim/adam) {:type :adam :alpha 0.001 :beta1 0.9 :beta2 0.999 :epsilon 1e-8}
    (adam/adam :alpha 0.01) {:type :adam :alpha 0.01 :beta1 0.9 :beta2 0.999 :epsilon 1e-8}
    (adadelta/adadelta) {:type :adadelta :decay 0.05 :epsilon 1e-6}
    (optim/adadelta {:decay 0.1}) {:type :adadelta :decay 0.1 :epsilon 1e-6}
    (optim/adamw) {:type :adamw :learning-rate 0.001 :beta1 0.9 :beta2 0.999 :epsilon 1e-8
                   :weight-decay 0.01}
    (optim/rmsprop :learning-rate 0.001) {:type :rmsprop :learning-rate 0.001 :rho 0.99
                                          :epsilon 1e-8 :momentum 0.0}
    (optim/adagrad) {:type :adagrad :learning-rate 0.01 :epsilon 1e-10})
  (is (= "sgd options must be keyword/value pairs or one map. Received: [:learning-rate]"
         (first (error-of #(optim/sgd :learning-rate))))))
