(ns cortex.bridge.threads-test
  "Threads on the door: one call per network at a time (never a crash), networks in
  parallel exactly as in sequence, and interrupts that stop a run at the next step."
  (:require [clojure.test :refer [deftest is testing]]
            [cortex.bridge :as bridge]
            [cortex.nn.layers :as layers]
            [cortex.optimizers :as optim]))

(def xor [{:x [0.0 0.0] :y [0.0]} {:x [0.0 1.0] :y [1.0]}
          {:x [1.0 0.0] :y [1.0]} {:x [1.0 1.0] :y [0.0]}])

(def blobs
  (vec (for [i (range 256)]
         (let [c (mod i 2)]
           {:x (mapv #(+ (* 0.5 c) (* 0.01 (mod (* (inc i) (+ 7 %)) 13))) (range 8))
            :y [(double c) (- 1.0 c)]}))))

(defn- small-net [seed]
  (bridge/load-model [(layers/input 8 1 1 :id :x) (layers/linear->relu 32)
                      (layers/linear 2 :id :y)] {:seed seed}))

(defn- bits
  "Every parameter's raw float bits, by layer and name."
  [net]
  (into {} (for [[layer params] (bridge/weights net) [param {:keys [data]}] params]
             [[layer param] (mapv #(Float/floatToRawIntBits %) data)])))

(def ^:private options {:epochs 4 :batch-size 16 :seed 7 :log nil
                        :optimizer (optim/adam :alpha 0.01)})

(defn- outcome [f]
  (try (f) :finished
       (catch clojure.lang.ExceptionInfo e (or (:cortex.bridge/error (ex-data e)) e))))

(deftest two-threads-on-one-network-never-crash
  (dotimes [_ 3]
    (let [net (small-net 3)
          start (promise)
          go #(future @start (outcome (fn [] (bridge/train! net blobs (assoc options :epochs 20)))))
          a (go) b (go)]
      (deliver start true)
      (let [results (sort-by str [@a @b])]
        (is (some #{:finished} results) "one of them trains")
        (is (every? #{:finished :busy} results) "the other trains too, or fails with :busy"))
      (is (every? #(Float/isFinite %) (mapcat #(get-in % [:weights :data]) (vals (bridge/weights net)))))))
  (testing ":wait true runs the second call after the first"
    (let [net (small-net 3)
          calls (doall (for [_ (range 2)]
                         (future (outcome #(bridge/train! net blobs (assoc options :wait true))))))]
      (is (= [:finished :finished] (mapv deref calls))))))

(deftest four-networks-in-parallel-give-the-sequential-weights
  (let [sequential (mapv (fn [seed] (doto (small-net seed) (bridge/train! blobs options)))
                         (range 4))
        parallel (mapv small-net (range 4))]
    (run! deref (mapv #(future (bridge/train! % blobs options)) parallel))
    (is (= (map bits sequential) (map bits parallel)) "bit for bit")))

(defn- long-training
  "Train `net` for 10^6 epochs on another thread; [thread result-promise]."
  [net]
  (let [result (promise)
        thread (Thread. #(deliver result (try (bridge/train! net blobs {:epochs 1000000
                                                                        :batch-size 4
                                                                        :log nil})
                                              (catch Throwable e e))))]
    (.start thread)
    [thread result]))

(deftest an-interrupt-stops-training-at-the-next-step
  (let [net (small-net 5)
        [thread result] (long-training net)]
    (Thread/sleep 700)
    (let [began (System/nanoTime)]
      (.interrupt ^Thread thread)
      (let [e (deref result 2000 :timeout)
            seconds (/ (- (System/nanoTime) began) 1e9)]
        (is (instance? clojure.lang.ExceptionInfo e))
        (is (= :interrupted (:cortex.bridge/error (ex-data e))))
        (is (vector? (:history (ex-data e))))
        (is (< seconds 2.0))))
    (testing "the network is free again and in a usable state"
      (is (= 1 (count (bridge/train! net blobs {:epochs 1 :log nil}))))
      (is (every? #(Float/isFinite %) (:y (first (bridge/run net (take 1 blobs)))))
          "outputs are numbers"))))

(deftest future-cancel-stops-a-run
  (let [net (small-net 6)
        many (vec (take 200000 (cycle blobs)))
        started (promise)
        running (future (deliver started true)
                        (bridge/run net many {:batch-size 1}))]
    @started
    (Thread/sleep 300)
    (future-cancel running)
    (is (future-cancelled? running))
    (testing "the run stops at its next batch: the network is free again within 5 s"
      ;; (on a loaded machine the cancelled thread may need a moment to reach that batch)
      (let [deadline (+ (System/currentTimeMillis) 5000)
            result (loop []
                     (let [r (try (bridge/run net (take 4 blobs))
                                  (catch clojure.lang.ExceptionInfo e
                                    (if (and (= :busy (:cortex.bridge/error (ex-data e)))
                                             (< (System/currentTimeMillis) deadline))
                                      ::busy
                                      (throw e))))]
                       (if (= ::busy r) (do (Thread/sleep 50) (recur)) r)))]
        (is (= 4 (count result)))))))

(deftest progress-lines-can-be-silenced-or-redirected
  (let [net (small-net 8)
        lines (atom [])]
    (is (= "" (with-out-str (bridge/train! net blobs {:epochs 2 :progress false}))))
    (is (= "" (with-out-str (bridge/train! net blobs {:epochs 2 :log nil}))))
    (is (= "" (with-out-str (bridge/train! net blobs {:epochs 2 :log #(swap! lines conj %)}))))
    (is (= 2 (count @lines)))
    (is (re-find #"epoch\s+1/2" (first @lines)))))

(deftest an-interrupted-run-writes-the-checkpoint-it-was-asked-for
  (let [net (small-net 9)
        path (str (java.io.File/createTempFile "interrupted" ".edn"))
        result (promise)
        thread (Thread. #(deliver result (try (bridge/train! net blobs {:epochs 1000000
                                                                        :batch-size 4
                                                                        :checkpoint path
                                                                        :log nil})
                                              (catch Throwable e e))))]
    (.start thread)
    (Thread/sleep 700)
    (.interrupt thread)
    (let [e (deref result 5000 :timeout)]
      (is (= :interrupted (:cortex.bridge/error (ex-data e))))
      (is (= path (:checkpoint (ex-data e))))
      (is (= (bits net) (bits (bridge/load-network path)))
          "the checkpoint holds the network as the last step left it"))))

(deftest a-long-run-on-one-network-does-not-hold-up-another
  (let [busy (small-net 10)
        other (small-net 11)
        [thread result] (long-training busy)]
    (Thread/sleep 300)
    (is (= 2 (count (bridge/train! other blobs {:epochs 2 :log nil}))))
    (is (.isAlive ^Thread thread) "the first is still training")
    (.interrupt ^Thread thread)
    (is (= :interrupted (:cortex.bridge/error (ex-data (deref result 5000 nil)))))))
