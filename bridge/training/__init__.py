"""Training, evaluation and prediction: ``train``, ``evaluate``, ``predict``, and the
:class:`Callback` door into the epoch loop."""

from bridge.training.callbacks import Callback as Callback
from bridge.training.evaluation import evaluate as evaluate
from bridge.training.evaluation import predict as predict
from bridge.training.history import History as History
from bridge.training.trainer import train as train

__all__ = ["train", "evaluate", "predict", "History", "Callback"]
