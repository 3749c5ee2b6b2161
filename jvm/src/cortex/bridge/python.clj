(ns cortex.bridge.python
  "The only namespace that calls Python. The Python process that hosts this JVM hands
  over its entry points (bridge/jvm/calls.py, ENTRY_POINTS) as clojure.lang.IFn objects;
  they take and return EDN text, strings, numbers, primitive arrays and direct buffers.
  A Python failure arrives as ex-info with :python/type, :python/message and
  :python/traceback.")

(defonce ^{:doc "Entry-point name (keyword) -> IFn, installed by Python."}
  entry-points
  (atom {}))

(defn install!
  "Called from Python with a java.util.Map of name -> IFn."
  [^java.util.Map table]
  (reset! entry-points (into {} (map (fn [[k v]] [(keyword k) v]) table)))
  (count @entry-points))

(defn installed? [] (boolean (seq @entry-points)))

(defn call
  "Call the Python entry point `k` with `args`."
  [k & args]
  (if-let [f (get @entry-points k)]
    (apply f args)
    (throw (ex-info (str "Python entry point " k " is not available; cortex.bridge runs "
                         "inside a Python process started by `cortex-bridge repl`, "
                         "`cortex-bridge nrepl` or `cortex-bridge run`")
                    {:entry-point k :available (sort (keys @entry-points))}))))

(defn print-line
  "Print a progress line to the caller's *out* (Python's trainer calls this)."
  [s]
  (println s)
  (flush))

(defn eval-string
  "Read and evaluate every form of `s` in namespace user; the last value."
  [^String s]
  (binding [*ns* (create-ns 'user)]
    (refer-clojure)
    (let [reader (java.io.PushbackReader. (java.io.StringReader. s))]
      (loop [result nil]
        (let [form (read {:eof ::eof} reader)]
          (if (= form ::eof)
            result
            (recur (eval form))))))))
