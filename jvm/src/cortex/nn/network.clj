(ns cortex.nn.network
  "Cortex's network namespace: build a network from a description, print it, and edit it
  for fine-tuning under Cortex's names. Each edit returns a new network whose kept layers
  keep their trained values bit for bit; the argument is left as it was.

    (-> net
        (network/dissoc-layers-from-network :linear-3)          ; the head and all after
        (network/assoc-layers-to-network [(layers/linear 2) (layers/softmax :id :labels)])
        (network/add-property-to-layer :linear-1 :non-trainable? true))"
  (:require [cortex.bridge :as bridge]))

(defn linear-network
  "Build a network from a description (a vector of layer maps; nested vectors flatten)."
  [description]
  (bridge/load-model description))

(defn print-layer-summary
  "Print the layer table."
  [network & _]
  (println (bridge/summary network)))

(defn dissoc-layers-from-network
  "The network without `layer-id` and every layer that depends on it (Cortex removes the
  layer and everything after it)."
  [network layer-id]
  (bridge/edit network :dissoc-layers-from-network {:layer-id layer-id}))

(defn assoc-layers-to-network
  "The network with `layers` (layer maps, as cortex.nn.layers makes them) appended after
  its output: the first new layer's parent is that output unless it names :parents."
  [network layers]
  (bridge/edit network :assoc-layers-to-network {:layers (vec (flatten [layers]))}))

(defn resize-input
  "The network with its input (the first, or :input-id) taking `width` x `height` x
  `channels` values. Layers whose trained shapes no longer fit are an error unless
  :reinitialize true."
  [network width height channels & {:keys [input-id reinitialize]}]
  (bridge/edit network :resize-input (cond-> {:width width :height height :channels channels}
                                       input-id (assoc :input-id input-id)
                                       reinitialize (assoc :reinitialize true))))

(defn add-property-to-layer
  "The network with `k` set to `v` on layer `layer-id`, e.g. :non-trainable? true or
  :learning-attenuation 0.1 (nil removes the key)."
  [network layer-id k v]
  (bridge/edit network :add-property-to-layer {:layer-id layer-id :key k :value v}))

(defn freeze-layers
  "The network with :non-trainable? true on `layer-ids` (default: every layer with
  parameters) — the fine-tuning recipe in one call."
  ([network] (bridge/edit network :freeze-layers {}))
  ([network layer-ids] (bridge/edit network :freeze-layers {:layer-ids (vec layer-ids)})))
