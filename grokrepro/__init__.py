"""grokrepro: declarative specifications and audited reproductions of grokking claims."""

__version__ = "0.1.0"
