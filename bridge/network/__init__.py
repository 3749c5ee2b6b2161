"""A description becomes a network in two steps: :mod:`.plan` checks and sizes the graph
(ids, parents, order, shapes, parameter counts) before anything is allocated, and
:mod:`.module` builds the ``torch.nn.Module`` from the plan."""

from bridge.network.module import Layer, Network
from bridge.network.plan import DEFAULT_MAX_PARAMETERS, Plan, plan_network

__all__ = ["Network", "Layer", "Plan", "plan_network", "DEFAULT_MAX_PARAMETERS"]
