(ns cortex.bridge.data-test
  "Data as data: bulk data sets read as Cortex maps, networks print and datafy, Cortex's
  execute/train leaves its argument alone, errors carry Clojure names and structure."
  (:require [clojure.datafy :refer [datafy nav]]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [cortex.bridge :as bridge]
            [cortex.dataset :as ds]
            [cortex.nn :as nn]
            [cortex.nn.execute :as execute]
            [cortex.nn.layers :as layers]))

(deftest a-loaded-data-set-is-a-collection-of-cortex-maps
  (let [digits (ds/load-digits :train)
        item (first digits)]
    (is (< 1000 (count digits)))
    (is (= #{:data :labels} (set (keys item))))
    (is (= 64 (count (:data item))))
    (is (= 10 (count (:labels item))))
    (is (= 1.0 (reduce + (:labels item))) "one-hot")
    (is (= item (nth digits 0)))
    (is (= 2 (count (take 2 digits))))
    (is (= (count digits) (count (map :labels digits))))
    (is (= ::none (nth digits (count digits) ::none)))
    (is (re-find #"#<Dataset \d+ items" (pr-str digits)) "prints a line, not every item")
    (testing "it trains as it is, and as the plain maps it holds"
      (let [net (nn/sequential [(nn/input 64) (nn/dense 10) (nn/softmax)])]
        (nn/train net digits {:type :adam :alpha 0.01} :epochs 2 :log nil)
        (is (< 0.5 (nn/evaluate net digits)))
        (is (= (nn/evaluate net digits) (nn/evaluate net (vec digits))))))))

(def ^:private xor-net
  [(layers/input 2 1 1 :id :x) (layers/linear->tanh 4) (layers/linear 1 :id :y)])

(def ^:private xor [{:x [0 0] :y [0]} {:x [0 1] :y [1]} {:x [1 0] :y [1]} {:x [1 1] :y [0]}])

(deftest a-network-prints-looks-up-and-datafies
  (let [net (bridge/load-model xor-net {:seed 3})]
    (is (str/includes? (pr-str net) "total parameters: 17"))
    (is (str/includes? (pr-str net) ":linear-1"))
    (is (= [:x :linear-1 :tanh-1 :y] (mapv :id (:layers net))))
    (is (= [:x] (:inputs net)))
    (is (some #{:description} (keys net)))
    (is (= [:input :linear :tanh :linear] (mapv :type (:description net))))
    (let [data (datafy net)
          layers (:layers data)
          linear (nav layers 1 (nth layers 1))]
      (is (= 17 (:parameter-count data)))
      (is (= :not-fetched (:parameters (nth layers 1))))
      (is (= [4 2] [(count (:weights (nav linear :parameters nil)))
                    (count (first (:weights (nav linear :parameters nil))))]))
      (is (= #{:linear-1 :y} (set (keys (nav data :weights nil))))))))

(defn- bits [net]
  (for [[_ params] (sort (bridge/weights net)) [_ {:keys [data]}] (sort params)
        x data]
    (Float/floatToRawIntBits x)))

(deftest execute-train-returns-a-trained-copy
  (let [net (bridge/load-model xor-net {:seed 4})
        before (doall (bits net))
        trained (execute/train net xor :batch-size 2)]
    (is (= before (bits net)) "the argument is unchanged")
    (is (not= before (bits trained)))
    (is (= 4 (count (execute/run trained xor :batch-size 3))))))

(deftest errors-speak-clojure
  (let [net (bridge/load-model xor-net)
        caught (fn [f] (try (f) nil (catch clojure.lang.ExceptionInfo e e)))]
    (testing "a stream too wide for its layer: structured data"
      (let [e (caught #(bridge/train! net [{:x [0 0 0] :y [0]}] {:log nil}))]
        (is (= {:cortex.bridge/error :data :stream :x :layer :x :expected 2 :found 3}
               (ex-data e)))))
    (testing "the trainer's data errors carry the stream they name"
      (let [e (caught #(bridge/train! net [{:x [0 0] :z [0]}] {:log nil}))]
        (is (= :data (:cortex.bridge/error (ex-data e))))
        (is (= :z (:stream (ex-data e))))))
    (testing "an unknown option is named as Clojure writes it"
      (let [e (caught #(bridge/train! net xor {:bogus-option 1 :log nil}))]
        (is (re-find #":bogus-option" (ex-message e)))
        (is (not (re-find #"bogus_option|keyword argument" (ex-message e))))
        (is (= :bogus-option (:option (ex-data e))))))
    (testing "Python's messages use Clojure's option names"
      (let [e (caught #(bridge/train! net xor {:batch-size 0 :log nil}))]
        (is (re-find #":batch-size" (ex-message e)))
        (is (not (re-find #"batch_size" (ex-message e))))))
    (testing "a data error found in Clojure is located at the caller too"
      (let [e (caught #(bridge/train! net [{:x [0 0 0] :y [0]}] {:log nil}))]
        (is (str/includes? (.getClassName (first (.getStackTrace ^Throwable e))) "data_test"))))
    (testing "the error's location is the caller, not the JPype proxy"
      (let [e (caught #(bridge/train! net xor {:batch-size 0 :log nil}))
            top (first (.getStackTrace ^Throwable e))]
        (is (not (str/starts-with? (.getClassName top) "org.jpype")))
        (is (str/includes? (.getClassName top) "data_test"))))))
