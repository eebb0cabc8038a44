from grokrepro.train.ensemble import METRICS, NOT_REACHED, EnsembleTrainer, GroupResult

__all__ = ["METRICS", "NOT_REACHED", "EnsembleTrainer", "GroupResult"]
