"""The performance page's tables, computed from the JSON the benchmark scripts write (`--json` into
benchmarks/results/), so that a number on the page is one a script measured. Reads JSON only: no torch."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def _range(values: list[int]) -> str:
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def _scientific(value: float) -> str:
    """3.0·10¹⁷: two significant figures, as the page writes large counts."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}·10{str(int(exponent)).translate(SUPERSCRIPT)}"


def _host_syncs(groups: list[dict]) -> str:
    syncs = [g["host_syncs_per_step"] for g in groups]
    with_any = sum(n > 0 for n in syncs)
    if with_any == 0:
        return "0 in every group"
    where = "in every group" if with_any == len(groups) else f"in {with_any} of {len(groups)} groups"
    return f"{_range([n for n in syncs if n > 0])} {where}"


def _hours_by_claim(profile: dict) -> Counter:
    hours: Counter = Counter()
    for group in profile["groups"]:
        hours[group["claim"]] += group["gpu_hours"]
    return hours


def _changed_hours(before: dict, after: dict, leave_out: str) -> str:
    """The claims whose estimate moved by at least a tenth (and 0.1 h): what a reader looks for in the row."""
    was, now = _hours_by_claim(before), _hours_by_claim(after)
    moved = [f"`{claim}` {was[claim]:.1f} → {now[claim]:.1f} h" for claim in sorted(was.keys() & now.keys())
             if claim != leave_out and abs(now[claim] - was[claim]) >= max(0.1, 0.1 * was[claim])]
    return f" ({', '.join(moved)})" if moved else ""


def _changed_group_counts(before: dict, after: dict) -> str:
    was = Counter(g["claim"] for g in before["groups"])
    now = Counter(g["claim"] for g in after["groups"])
    moved = [f"`{claim}` {was[claim]} → {now[claim]}" for claim in sorted(was.keys() | now.keys())
             if was[claim] != now[claim]]
    return f" ({', '.join(moved)})" if moved else ""


def _ops_of_transform(profile: dict, transform: str) -> str:
    return _range([g["ops_per_step"] for g in profile["groups"] if transform in g["transforms"]])


def step_profile_comparison(before: dict, after: dict, *, apart: str, transform: str, transform_label: str) -> str:
    """Two runs of `benchmarks.step_profile --json` side by side: groups, host syncs, ops, launch-bound groups,
    FLOPs and the estimated GPU time, with the claim `apart` shown on its own row and the groups using
    `transform` on theirs."""
    if before["gpu"]["name"] != after["gpu"]["name"] or before["scale"] != after["scale"]:
        raise ValueError("the two step profiles estimate different GPUs or scales; they do not compare")
    gpu = after["gpu"]["name"]

    def column(profile: dict) -> dict[str, str]:
        groups = profile["groups"]
        hours = _hours_by_claim(profile)
        return {
            "training groups": f"{len(groups)}",
            "host syncs per non-logged step": _host_syncs(groups),
            "ops per step": _range([g["ops_per_step"] for g in groups]),
            f"{transform_label} group, ops per step": _ops_of_transform(profile, transform),
            "groups bound by launches rather than FLOPs (estimate)":
                f"{profile['launch_bound_groups']} of {len(groups)}",
            "training FLOPs at full budgets (FlopCounterMode)":
                _scientific(sum(g["flops_per_step"] * g["steps"] for g in groups)),
            f"estimated {gpu} time, every claim but `{apart}`": f"{sum(hours.values()) - hours[apart]:.1f} h",
            f"estimated {gpu} time, `{apart}`": f"{hours[apart]:.1f} h",
            f"**estimated {gpu} time, the whole {profile['scale']} scale (serial)**":
                f"**{profile['total_gpu_hours']:.1f} h**",
        }

    was, now = column(before), column(after)
    # What moved, said where it moved: the group counts and the hours of the claims not on a row of their own.
    now["training groups"] += _changed_group_counts(before, after)
    now[f"estimated {gpu} time, every claim but `{apart}`"] += _changed_hours(before, after, apart)
    rows = ["| | before | after |", "|---|---|---|"]
    rows += [f"| {label} | {was[label]} | {now[label]} |" for label in was]
    return "\n".join(rows)


def step_profile_paper_table(root: Path) -> str:
    """The paper scale before and after the host-free step (benchmarks/results/step_profile_paper_*.json)."""
    results = Path(root) / "benchmarks" / "results"
    return step_profile_comparison(read_json(results / "step_profile_paper_before.json"),
                                   read_json(results / "step_profile_paper_after.json"),
                                   apart="spectral_prediction", transform="grokfast_ma",
                                   transform_label="Grokfast-MA")


def _rate(steps_per_s: float, mfu: float | None = None) -> str:
    rate = f"{steps_per_s:,.0f}" if steps_per_s >= 100 else f"{steps_per_s:.1f}"
    return rate + (f" ({mfu:.0%})" if mfu is not None else "")


def _config_name(result: dict) -> str:
    path, _, group = result["spec"].partition(":")
    spec = Path(path).stem + (f"`, training group {group}" if group else "`")
    task, model = result["task"], result["model"]
    operation = f" {task['operation']}" if "operation" in task else ""
    return (f"`{spec} default ({model['kind']}, {task['kind']}{operation} task, {result['train_examples']:,} "
            f"training examples)")


def trainer_speed_table(root: Path) -> str:
    """The grokrepro-against-a-plain-loop table, from benchmarks/results/{power_config,trainer_speed}.json."""
    results = Path(root) / "benchmarks" / "results"
    power, speed = results / "power_config.json", results / "trainer_speed.json"
    if not (power.is_file() and speed.is_file()):
        return ("Not measured on this checkout: `python -m benchmarks.power_config --json "
                "benchmarks/results/power_config.json` and `python -m benchmarks.trainer_speed --json "
                "benchmarks/results/trainer_speed.json` write what this table reads.")
    power, speed = read_json(power), read_json(speed)
    rows = ["| benchmark | plain PyTorch loop | grokrepro | ratio |", "|---|---|---|---|"]
    config = power["config"]
    rows.append(f"| Power et al. config: {config['model']}, {config['task']}, batch {config['batch_size']}, AdamW, "
                f"train+test evaluation every {config['evaluate_every']} steps | "
                f"{_rate(power['plain_loop_steps_per_s'], power['plain_mfu'])} | "
                f"{_rate(power['grokrepro_steps_per_s'], power['grokrepro_mfu_of_plain_work'])} | "
                f"{power['grokrepro_vs_plain']:.2f}x |")
    n = speed["ensemble"]
    for result in speed["results"]:
        rows.append(f"| {_config_name(result)}, 1 run | "
                    f"{_rate(result['plain_loop_steps_per_s'], result['plain_mfu'])} | "
                    f"{_rate(result['grokrepro_steps_per_s'], result['grokrepro_nominal_mfu'])} | "
                    f"{result['grokrepro_vs_plain']:.2f}x |")
        rows.append(f"| the same, {n} runs vmapped (run-steps/s) | | "
                    f"{_rate(result[f'vmapped_{n}_run_steps_per_s'], result['vmapped_nominal_mfu'])} | "
                    f"{result[f'vmapped_{n}_vs_sequential_grokrepro']:.2f}x vs {n} sequential grokrepro runs, "
                    f"{result[f'vmapped_{n}_vs_sequential_plain']:.2f}x vs {n} plain |")
    cpu = speed.get("host", {}).get("cpu_model", "this CPU")
    rows.append("")
    rows.append(textwrap.fill(f"Measured on {cpu} with {speed['threads']} threads: fp32 matmul peak "
                f"{speed['matmul_peak_gflops']:.0f} GFLOP/s in the `trainer_speed` run and "
                f"{power['matmul_peak_gflops']:.0f} in the `power_config` run (MFU is against the peak measured in "
                f"the same run); {speed['steps_timed']} and {power['config']['steps_timed']} steps timed, median "
                f"of {speed['repeats']} rounds taken in turns.", width=115))
    return "\n".join(rows)
