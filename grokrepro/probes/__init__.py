"""The probes a spec can name (`train.probes: [{kind, every, ...}]`): one module per kind, each its Settings, the
variables it writes with their units, and its measurement, registered in grokrepro.registry.PROBES.

A measurement is a function (trainer, settings, logged) -> {variable: (run,) array, NaN for runs not measured},
called at logged steps that are multiples of `every` and at the last step. These modules import no torch; the
built-in measurements live in grokrepro/train/probes.py and are named as "module:function"."""

from grokrepro.probes._base import ProbeSettings

__all__ = ["ProbeSettings"]
