(ns cortex.bridge.python
  "The only namespace that calls Python. The Python process that hosts this JVM hands
  over its entry points (bridge/jvm/calls.py, ENTRY_POINTS) as clojure.lang.IFn objects;
  they take and return EDN text, strings, numbers, primitive arrays and direct buffers.
  A Python failure arrives as ex-info with :python/type, :python/message and
  :python/traceback.

  Long calls (train, evaluate, run) go through `interruptibly`: the work runs on a
  worker thread while the caller waits in Java, so an interrupt of the caller (nREPL's
  interrupt, Ctrl-C in the terminal REPL, future-cancel) reaches Java code and becomes
  a cancel flag the Python loop checks between steps.

  Python objects behind handles are released by `release!` or, once their Clojure owner
  is collected, at the next call (`release-on-gc!`): the Cleaner's own thread only
  queues the handle, so Python is never entered from it."
  (:import (java.lang.ref Cleaner Cleaner$Cleanable)
           (java.util.concurrent ConcurrentLinkedQueue ExecutionException Future)
           (java.util.concurrent.atomic AtomicBoolean)))

(defonce ^{:doc "Entry-point name (keyword) -> IFn, installed by Python."}
  entry-points
  (atom {}))

(defn install!
  "Called from Python with a java.util.Map of name -> IFn."
  [^java.util.Map table]
  (reset! entry-points (into {} (map (fn [[k v]] [(keyword k) v]) table)))
  (count @entry-points))

(defn installed?
  "Whether Python has handed over its entry points (this JVM runs inside Python)."
  []
  (boolean (seq @entry-points)))

(defonce ^:private ^ConcurrentLinkedQueue released (ConcurrentLinkedQueue.))
(defonce ^:private cleaner (delay (Cleaner/create)))

(defn- entry-point [k]
  (or (get @entry-points k)
      (throw (ex-info (str "Python entry point " k " is not available; cortex.bridge runs "
                           "inside a Python process started by `cortex-bridge repl`, "
                           "`cortex-bridge nrepl` or `cortex-bridge run`")
                      {:entry-point k :available (sort (keys @entry-points))}))))

(defn- drain-released!
  "Release, in Python, every handle whose owner the Cleaner saw collected — except those
  in `in-use`: a call's own arguments. (A network made inside a threading form is
  unreachable once its handle is taken, so the Cleaner may queue it just before the call
  that uses it; it is released at the next call instead.)"
  ([] (drain-released! nil))
  ([in-use]
   (when-not (.isEmpty released)
     (let [release (entry-point :release)
           keep (set (filter integer? in-use))
           kept (java.util.ArrayList.)]
       (loop []
         (when-let [h (.poll released)]
           (if (contains? keep (long h))
             (.add kept h)
             (release (long h)))
           (recur)))
       (.addAll released kept)))))

(def ^:private door-frames
  "Class-name prefixes of the frames between a user's call and Python."
  ["org.jpype." "cortex.bridge$" "cortex.bridge.python$" "cortex.bridge.pack$"
   "cortex.bridge.bulk$" "cortex.nn$" "cortex.nn.execute$" "cortex.nn.network$"
   "cortex.dataset$" "cortex.experiment.train$" "clojure.lang." "clojure.core$" "java."
   "jdk." "sun."])

(defn- door-frame? [^StackTraceElement frame]
  (let [c (.getClassName frame)]
    (some #(.startsWith c ^String %) door-frames)))

(defn at-call-site
  "`e` with the stack of `frames` (default: this thread's) from the user's call on:
  Clojure's REPL then reports the user's form as the location, not the JPype proxy."
  ([^Throwable e] (at-call-site e (.getStackTrace (Thread/currentThread))))
  ([^Throwable e frames]
   (let [kept (drop-while door-frame? frames)]
     (when (seq kept)
       (.setStackTrace e (into-array StackTraceElement kept)))
     e)))

(defn- from-python?
  [e]
  (boolean (:python/type (ex-data e))))

(defn call
  "Call the Python entry point `k` with `args`. A Python failure is rethrown located at
  the caller's form."
  [k & args]
  (let [f (entry-point k)]
    (drain-released! args)
    (try
      (apply f args)
      (catch clojure.lang.ExceptionInfo e
        (throw (if (from-python? e) (at-call-site e) e))))))

(defn release-on-gc!
  "Queue the Python object `handle` for release once `owner` is collected; returns the
  Cleanable, whose `.clean` releases it at once (and only once)."
  ^Cleaner$Cleanable [owner handle]
  (let [handle (long handle)]
    (.register ^Cleaner @cleaner owner (fn [] (.add released handle)))))

(defn release-now!
  "Run `cleanable` (queue its handle) and release every queued handle now."
  [^Cleaner$Cleanable cleanable]
  (.clean cleanable)
  (drain-released!)
  true)

(defn pending-releases
  "How many handles wait for release (for tests)."
  []
  (.size released))

;; --- interruptible calls ------------------------------------------------------------------

(defn- under-nrepl-eval?
  "Whether this thread runs an nREPL eval (nREPL 1.x reports an interrupt itself, and
  stays silent only about a failure whose root cause is a ThreadDeath)."
  []
  (some-> (find-ns 'nrepl.middleware.interruptible-eval)
          (ns-resolve '*msg*)
          deref
          boolean))

(defn- finish
  "Wait for `worker` to end, however often this thread is interrupted meanwhile; its
  failure (a Throwable) or ::finished."
  [^Future worker]
  (loop []
    (let [outcome (try (.get worker) ::finished
                       (catch ExecutionException e (.getCause e))
                       (catch InterruptedException _ ::again))]
      (if (= ::again outcome) (recur) outcome))))

(defn- interrupted!
  "Set `flag`, wait for the worker to stop after its current step, and throw ex-info
  {:cortex.bridge/error :interrupted :history […]}."
  [^AtomicBoolean flag worker what]
  (.set flag true)
  (let [outcome (finish worker)
        data (ex-data outcome)]
    (when (and (instance? Throwable outcome)
               (not= :interrupted (:cortex.bridge/error data)))
      (throw outcome))
    (throw (at-call-site
            (ex-info (str what " interrupted; the network holds the state of its last "
                          "finished step")
                     (merge {:cortex.bridge/error :interrupted}
                            (select-keys data [:history :checkpoint]))
                     (when (under-nrepl-eval?) (ThreadDeath.)))))))

(defn interruptibly
  "Call (f flag) on a worker thread (with this thread's bindings, so *out* is the
  caller's) and return its value; `flag` is a fresh AtomicBoolean for the Python loop
  to check. An interrupt of the calling thread sets the flag, waits for the worker to
  end its current step, and throws ex-info {:cortex.bridge/error :interrupted …}.
  A failure of `f` is rethrown as it is."
  [what f]
  (let [flag (AtomicBoolean.)
        ^Future worker (future (f flag))]
    (try
      (.get worker)
      (catch ExecutionException e
        ;; a Python failure is relocated to this (the caller's) thread; others keep theirs
        (let [cause (.getCause e)]
          (throw (if (from-python? cause) (at-call-site cause) cause))))
      (catch InterruptedException _ (interrupted! flag worker what))
      (catch ThreadDeath _ (interrupted! flag worker what)))))

;; --- printing and evaluating ----------------------------------------------------------------

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
