(ns cortex.bridge.edn
  "Reading what cortex-bridge writes, in any Clojure process (no Python needed):

    (clojure.edn/read-string {:readers cortex.bridge.edn/readers} (slurp \"net.edn\"))

  or `(read-network \"net.edn\")`. `#cortex-bridge/tensor` literals become
  `{:dtype :shape :data <primitive array>}` (`cortex.bridge.tensor/read-tensor`); files
  saved with the `:vector` encoding need no readers at all."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [cortex.bridge.tensor :as tensor]))

(def readers
  "EDN readers for the tags cortex-bridge writes; tensor data as primitive arrays."
  {'cortex-bridge/tensor tensor/read-tensor})

(def vector-readers
  "Like `readers`, with tensor data as nested vectors."
  {'cortex-bridge/tensor #(tensor/read-tensor % {:as :vectors})})

(defn readers-with
  "EDN readers passing `options` (`:as :vectors`, `:max-elements n`) to `read-tensor`."
  [options]
  {'cortex-bridge/tensor #(tensor/read-tensor % options)})

(defn read-network
  "A saved network (or any EDN holding tensor literals) as Clojure data.

  `source` is anything `clojure.java.io/reader` opens (a path, a File, a URL);
  `options` go to `read-tensor` (`{:as :vectors}` for nested vectors)."
  ([source] (read-network source {}))
  ([source options]
   (with-open [in (java.io.PushbackReader. (io/reader source))]
     (edn/read {:readers (readers-with options)} in))))
