"""The one place the GPU wall-time estimates take their constants from (benchmarks/step_profile.py).

A step on a GPU costs the larger of two floors: launching its ops one by one from the host (eager PyTorch:
dispatch, vmap, autograd and the kernel launch, per op) and doing its arithmetic at a fraction of the card's
FP32 peak (TF32 stays off: PyTorch's default, which grokrepro never changes). Both constants are estimates
until benchmarks/gpu_check.py has run on the card: it writes benchmarks/results/gpu_calibration.json with the
measured values, which then replace these.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

CALIBRATION = Path(__file__).parent / "results" / "gpu_calibration.json"


@dataclass(frozen=True)
class GpuModel:
    name: str
    fp32_flops: float  # FP32 peak without tensor cores (TF32 off), FLOP/s
    utilisation: float  # the fraction of that peak a FLOP-bound training step reaches
    seconds_per_op: float  # host-side cost of one eagerly dispatched aten op, the launch floor
    calibrated: bool = False  # True once gpu_check.py has measured the last two on this card

    def step_seconds(self, ops: float, flops: float) -> float:
        return max(ops * self.seconds_per_op, flops / (self.fp32_flops * self.utilisation))

    def as_dict(self) -> dict:
        return asdict(self)


# H100 SXM: 67 TFLOP/s FP32 (PCIe: 51). 25 % of it on FLOP-bound steps and 10 µs per eager op are the middle of
# the ranges 20-40 % and 8-15 µs; an unbatched Nanda transformer at about 4 ms per step on an A100 agrees with
# the launch floor.
GPUS = {
    "H100": GpuModel("H100", fp32_flops=67e12, utilisation=0.25, seconds_per_op=10e-6),
    "H200": GpuModel("H200", fp32_flops=67e12, utilisation=0.25, seconds_per_op=10e-6),
    "A100": GpuModel("A100", fp32_flops=19.5e12, utilisation=0.25, seconds_per_op=10e-6),
}


def gpu_model(name: str, calibration: Path = CALIBRATION) -> GpuModel:
    """The named card's constants, replaced by gpu_check.py's measurements where it has run on that card."""
    if name not in GPUS:
        raise SystemExit(f"unknown GPU {name!r}; known: {', '.join(sorted(GPUS))} (benchmarks/gpu_model.py)")
    model = GPUS[name]
    if calibration.is_file():
        measured = json.loads(calibration.read_text())
        if measured.get("gpu") == name:
            model = replace(model, utilisation=float(measured["utilisation"]),
                            seconds_per_op=float(measured["seconds_per_op"]), calibrated=True)
    return model
