"""Training, evaluation and prediction."""

from bridge.training.evaluation import evaluate, predict
from bridge.training.trainer import History, train

__all__ = ["train", "evaluate", "predict", "History"]
