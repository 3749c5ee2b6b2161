(ns cortex.bridge.repl
  "The REPLs of `cortex-bridge`: the aliases every front end gives namespace user, and
  the terminal REPL, where Ctrl-C interrupts the running evaluation (a training stops
  after its current step and the prompt comes back) and at an idle prompt discards the
  line and prompts again; Ctrl-D (end of input) exits."
  (:require [clojure.main :as main])
  (:import (sun.misc Signal SignalHandler)))

(def aliases
  "What `user` gets in the terminal REPL, in nREPL sessions and in scripts."
  '[[cortex.bridge :as bridge] [cortex.nn :as nn] [cortex.optimizers :as optim]
    [cortex.dataset :as ds] [cortex.nn.layers :as layers] [cortex.nn.network :as network]
    [cortex.nn.execute :as execute] [cortex.experiment.train :as train]])

(defn setup-user!
  "Give namespace user the aliases and clojure.repl's doc, source and friends."
  []
  (binding [*ns* (create-ns 'user)]
    (refer-clojure)
    (apply require aliases)
    (use 'clojure.repl)
    :ready))

(defonce ^:private prompt-text (atom "user=> "))

(defn- prompt []
  (print (reset! prompt-text (str (ns-name *ns*) "=> ")))
  (flush))

(defn- caught
  "An interrupted run prints one line; anything else as clojure.main prints it."
  [^Throwable e]
  (if (= :interrupted (:cortex.bridge/error (ex-data e)))
    (binding [*out* *err*]
      (println (str "Interrupted: " (ex-message e)))
      (flush))
    (main/repl-caught e)))

(defn- interrupt-handler
  "Ctrl-C: interrupt the evaluating thread, or, at an idle prompt, prompt again (the
  terminal has dropped the half-typed line)."
  [evaluating out]
  (reify SignalHandler
    (handle [_ _]
      (if-let [^Thread thread @evaluating]
        (.interrupt thread)
        (binding [*out* out]
          (println)
          (print @prompt-text)   ; this thread's *ns* is not the REPL's
          (flush))))))

(defn terminal-repl
  "clojure.main's REPL on this thread, in user with the aliases, with Ctrl-C as above."
  []
  (let [evaluating (atom nil)
        previous (Signal/handle (Signal. "INT") (interrupt-handler evaluating *out*))]
    (try
      (main/repl
       :init (fn [] (setup-user!) (in-ns 'user))
       :prompt prompt
       :caught caught
       :eval (fn [form]
               (reset! evaluating (Thread/currentThread))
               (try (eval form)
                    (finally
                      (reset! evaluating nil)
                      (Thread/interrupted)))))   ; a late Ctrl-C must not hit the next read
      (finally
        (Signal/handle (Signal. "INT") previous)))))

(defn middleware
  "The vars named by `symbols` (fully qualified, e.g. cider.nrepl/cider-middleware),
  their namespaces loaded; a var holding a vector of middleware counts as its items."
  [symbols]
  (vec (mapcat (fn [sym]
                 (let [sym (symbol sym)]
                   (when-not (namespace sym)
                     (throw (ex-info (str "middleware must be a qualified symbol, e.g. "
                                          "cider.nrepl/cider-middleware; got " sym)
                                     {:middleware sym})))
                   (require (symbol (namespace sym)))
                   (let [v (or (resolve sym)
                               (throw (ex-info (str "no middleware var " sym)
                                               {:middleware sym})))]
                     (if (sequential? @v) (map #(if (symbol? %) (resolve %) %) @v) [v]))))
               symbols)))
