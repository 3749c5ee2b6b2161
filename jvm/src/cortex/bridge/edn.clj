(ns cortex.bridge.edn
  "Reading saved networks in a plain Clojure process:
    (clojure.edn/read-string {:readers cortex.bridge.edn/readers} (slurp \"net.edn\"))"
  (:require [clojure.edn :as edn]
            [cortex.bridge.tensor :as tensor]))

(def readers
  "EDN readers for the tags cortex-bridge writes; tensors become
  {:dtype :shape :data <primitive array>}."
  {'cortex-bridge/tensor tensor/read-tensor})

(def vector-readers
  "Like `readers`, with tensor data as nested vectors."
  {'cortex-bridge/tensor #(tensor/read-tensor % {:as :vectors})})

(defn read-network
  "Read a saved network file (either encoding) as Clojure data."
  ([path] (read-network path {}))
  ([path {:keys [as]}]
   (edn/read-string {:readers (if (= as :vectors) vector-readers readers)} (slurp path))))
