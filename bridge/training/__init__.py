"""Training, evaluation and prediction: ``train``, ``evaluate``, ``predict``."""

from bridge.training.evaluation import evaluate as evaluate, predict as predict
from bridge.training.trainer import History as History, train as train

__all__ = ["train", "evaluate", "predict", "History"]
