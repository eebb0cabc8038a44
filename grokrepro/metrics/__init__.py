from grokrepro.metrics.stats import bootstrap, interval
from grokrepro.metrics.times import first_step_reaching, measured, measured_at, value_at_step

__all__ = ["bootstrap", "interval", "first_step_reaching", "measured", "measured_at", "value_at_step"]
