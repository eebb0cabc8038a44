"""Search over the unverified LMN choices for check M2 of `lmn_compression`, on development seeds.

    python studies/lmn_m2_search.py train OUT.pkl [--weight-decay 0.2] [--steps 10000]
    python studies/lmn_m2_search.py score OUT.pkl hid:train:100,emb:all:100 [--every 200]

`train` trains the default scale's addition runs of the development seeds in one group, exactly as the spec
says except that the LMN probe is replaced by one that keeps every run's parameters every 100 steps. `score`
then computes LMN offline under each variant `WHERE:SPLIT:N` and prints M2a's and M2b's statistics per seed on
the points in [t_fit, t_gen] (and the pooled ratio the old, pooled M2 used):

- WHERE `hid`: interpolate the first hidden layer's activations (the probe's choice); `emb`: interpolate the
  embedded concatenation [e_a; e_b] (equivalently the first layer's pre-activation) and map it through the
  whole MLP.
- SPLIT `train`, `test` or `all` pairs; N of them, drawn with the run's seed as the probe draws them.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
from dataclasses import replace

import numpy as np
import torch

from grokrepro.claims.lmn_compression import _fit
from grokrepro.metrics.lmn import linear_mapping_number
from grokrepro.metrics.times import first_step_reaching
from grokrepro.models import ModelShape, build_model
from grokrepro.spec.load import load_spec
from grokrepro.spec.runs import expand_runs
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from grokrepro.train import probes

SAVE_EVERY = 100


def train(out: str, weight_decay: float, steps: int) -> None:
    spec = load_spec("specs/lmn_compression.yaml", "default")
    runs = [r for r in expand_runs(spec, "development")
            if r.coords.get("task") == "add" and r.optimizer.weight_decay == weight_decay]
    keeper = runs[0].train.probes[0].model_copy(update={"every": SAVE_EVERY, "samples": 2})
    runs = [replace(r, train=r.train.model_copy(update={"steps": steps, "probes": [keeper],
                                                         "checkpoint_every": 10**9})) for r in runs]
    states: dict[int, dict[int, dict]] = {}

    def keep(trainer, inputs, logged):
        step = trainer_step[0]
        for k, model in trainer.run_models(np.nonzero(logged)[0]):
            states.setdefault(k, {})[step] = {n: t.detach().clone() for n, t in model.state_dict().items()}
        return {"lmn": np.full(len(trainer.runs), np.nan)}

    datasets = [make_dataset(r.task, r.split_seed) for r in runs]
    trainer = EnsembleTrainer(runs, datasets)
    trainer_step = [0]
    run_probes = trainer._run_probes

    def tracking(step, logged):
        trainer_step[0] = step
        return run_probes(step, logged)

    trainer._run_probes = tracking
    saved_probe = probes.PROBES["lmn"]
    probes.PROBES["lmn"] = keep
    try:
        result = trainer.run(progress=False)
    finally:
        probes.PROBES["lmn"] = saved_probe
    print(f"trained {len(runs)} runs in {result.wall_seconds:.0f} s")
    with open(out, "wb") as handle:
        pickle.dump({"seeds": [r.seed for r in runs], "steps": result.steps, "metrics": result.metrics,
                     "states": states, "datasets": datasets, "model": runs[0].model,
                     "shape": dataclasses.asdict(trainer.model_shape)}, handle)


def _samples(dataset, seed: int, split: str, count: int) -> torch.Tensor:
    index = {"train": dataset.train_index, "test": dataset.test_index}.get(split, np.arange(len(dataset.labels)))
    order = np.random.default_rng(seed).permutation(index)
    return torch.as_tensor(dataset.inputs[order[:count]])


def _lmn(model, pairs: torch.Tensor, where: str) -> float:
    if where == "hid":
        return linear_mapping_number(model.first_hidden(pairs), model.from_first_hidden)
    with torch.no_grad():
        embedded = model.embed(pairs).flatten(1)
    return linear_mapping_number(
        embedded, lambda x: model.from_first_hidden(model.activation(model.hidden[0](x))))


def score(path: str, variants: list[str], every: int) -> None:
    with open(path, "rb") as handle:
        saved = pickle.load(handle)
    steps, metrics = saved["steps"], saved["metrics"]
    model = build_model(saved["model"], ModelShape(**saved["shape"]))
    t_fit = first_step_reaching(metrics["train_acc"], steps, 0.99)
    t_gen = first_step_reaching(metrics["test_acc"], steps, 0.95)
    print(f"seeds {saved['seeds']}: t_fit {t_fit.tolist()}, t_gen {t_gen.tolist()}")
    for variant in variants:
        where, split, count = variant.split(":")
        per_run = []
        for k, seed in enumerate(saved["seeds"]):
            pairs = _samples(saved["datasets"][k], seed, split, int(count))
            rows = []
            for step, state in sorted(saved["states"][k].items()):
                if step % every or not t_fit[k] <= step <= t_gen[k]:
                    continue
                model.load_state_dict(state)
                column = int(np.nonzero(steps == step)[0][0])
                rows.append([_lmn(model, pairs, where), metrics["param_norm"][k, column],
                             metrics["test_loss"][k, column]])
            per_run.append(np.array(rows))
        pooled = np.concatenate(per_run)
        on_lmn, on_norm = _fit(pooled[:, 0], pooled[:, 2])[0], _fit(pooled[:, 1], pooled[:, 2])[0]
        seeds = ", ".join(f"NRMSE {_fit(r[:, 0], r[:, 2])[0] / np.ptp(r[:, 2]):.3f} ratio "
                          f"{_fit(r[:, 0], r[:, 2])[0] / _fit(r[:, 1], r[:, 2])[0]:.2f}" for r in per_run)
        print(f"{variant} every {every}: {len(pooled)} points; pooled residual RMS on LMN {on_lmn:.3f}, on L2 "
              f"{on_norm:.3f}, ratio {on_lmn / on_norm:.2f}; per seed (M2a NRMSE, M2b ratio): {seeds}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["train", "score"])
    parser.add_argument("path")
    parser.add_argument("variants", nargs="?", default="hid:train:100")
    parser.add_argument("--weight-decay", type=float, default=0.2)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--every", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.mode == "train":
        train(args.path, args.weight_decay, args.steps)
    else:
        score(args.path, args.variants.split(","), args.every)


if __name__ == "__main__":
    main()
