from grokrepro.tasks.algorithmic import Dataset, make_dataset

__all__ = ["Dataset", "make_dataset"]
