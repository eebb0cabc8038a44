"""The Power et al. configuration: grokrepro's trainer against a plain per-run PyTorch loop, same work.

    python -m benchmarks.power_config [--steps 300] [--repeats 3]

The plain loop is written the way the popular public reimplementation trains it: a 2-layer post-LayerNorm
decoder (d_model 128, 4 heads, nn.MultiheadAttention with a causal mask, final LayerNorm, read-out at every
position), x/y mod 97 on 50 % of the pairs, minibatches of 512, torch.optim.AdamW with a 10-step warm-up, and a
full evaluation of the training and test sets every 100 steps. grokrepro runs the `paper` scale of
specs/grokking.yaml, which is that configuration, with the same batch size and the same evaluation cadence.

"Same work" means the same training: batches, optimiser, evaluations. How each side computes a step is its own
business; grokrepro's model skips the positions its read-out never sees, so its useful FLOPs per step are
fewer, and both sides' utilisation is stated against the plain model's FLOPs (the work a step stands for).

Prints one JSON object and a short table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import time

import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.common import matmul_peak, median_rates, train_for
from grokrepro.provenance import host
from grokrepro.spec import expand_runs, load_spec
from grokrepro.tasks import make_dataset


class PlainBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.attention = nn.MultiheadAttention(d_model, n_heads)
        self.attention_norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.mlp_norm = nn.LayerNorm(d_model)

    def forward(self, x):
        mask = torch.triu(torch.full((len(x), len(x)), float("-inf")), diagonal=1)
        x = self.attention_norm(x + self.attention(x, x, x, attn_mask=mask)[0])
        return self.mlp_norm(x + self.mlp(x))


class PlainTransformer(nn.Module):
    """The public reimplementation's shape: every position through every layer, read out everywhere."""

    def __init__(self, n_tokens: int, d_model: int = 128, n_heads: int = 4, n_layers: int = 2, seq_len: int = 4):
        super().__init__()
        self.tokens = nn.Embedding(n_tokens, d_model)
        self.positions = nn.Embedding(seq_len, d_model)
        self.layers = nn.Sequential(*[PlainBlock(d_model, n_heads) for _ in range(n_layers)],
                                    nn.LayerNorm(d_model), nn.Linear(d_model, n_tokens))

    def forward(self, tokens):  # (batch, seq) -> (seq, batch, n_tokens)
        x = self.tokens(tokens) + self.positions(torch.arange(tokens.shape[1]))
        return self.layers(x.transpose(0, 1))


def plain_flops_per_example(d_model: int, n_layers: int, seq_len: int, n_tokens: int) -> int:
    """Forward FLOPs of the plain model's dense layers and attention products for one example."""
    per_position = 2 * (3 * d_model**2 + d_model**2 + 8 * d_model**2)
    attention = 2 * 2 * seq_len * d_model  # scores and weighted values, per position
    return n_layers * seq_len * (per_position + attention) + seq_len * 2 * d_model * n_tokens


def plain_loop(dataset, steps: int, batch_size: int, evaluate_every: int, seed: int = 0) -> None:
    """`steps` training steps of the plain loop, evaluations included."""
    torch.manual_seed(seed)
    p = dataset.n_symbols
    model = PlainTransformer(p + 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10))

    def tokens(pairs):
        pairs = torch.as_tensor(pairs)
        op = torch.full_like(pairs[:, :1], p)
        return torch.cat([pairs[:, :1], op, pairs[:, 1:], op + 1], dim=1)

    train_x, train_y = tokens(dataset.inputs[dataset.train_index]), torch.as_tensor(dataset.labels[dataset.train_index])
    test_x, test_y = tokens(dataset.inputs[dataset.test_index]), torch.as_tensor(dataset.labels[dataset.test_index])
    generator = torch.Generator().manual_seed(seed)

    def evaluate(x, y):
        with torch.no_grad():
            correct = loss = 0.0
            for start in range(0, len(x), batch_size):
                logits = model(x[start : start + batch_size])[-1]
                loss += F.cross_entropy(logits, y[start : start + batch_size], reduction="sum").item()
                correct += (logits.argmax(-1) == y[start : start + batch_size]).sum().item()
        return loss / len(x), correct / len(x)

    order, offset = torch.randperm(len(train_x), generator=generator), 0
    for step in range(steps):
        if offset + batch_size > len(train_x):
            order, offset = torch.randperm(len(train_x), generator=generator), 0
        batch = order[offset : offset + batch_size]
        offset += batch_size
        loss = F.cross_entropy(model(train_x[batch])[-1], train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % evaluate_every == 0:
            evaluate(train_x, train_y), evaluate(test_x, test_y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the JSON here (docs/performance.md's table reads "
                                                 "benchmarks/results/power_config.json)")
    args = parser.parse_args()

    run = expand_runs(load_spec("specs/grokking.yaml", "paper"), "development")[0]
    run = run.__class__(**{**run.__dict__, "task": run.task.model_copy(update={"train_fraction": 0.5})})
    dataset = make_dataset(run.task, run.split_seed)
    batch, every = run.optimizer.batch_size, run.train.log_every
    n_train, n_all = len(dataset.train_index), len(dataset.train_index) + len(dataset.test_index)
    example_flops = plain_flops_per_example(128, 2, 4, dataset.n_symbols + 2)
    # a training step is forward + backward (3x forward); an evaluation is a forward pass over every pair
    flops_per_step = 3 * example_flops * batch + example_flops * n_all / every

    peak = matmul_peak()
    rates = median_rates({"plain": (lambda: plain_loop(dataset, args.steps, batch, every), args.steps),
                          "grokrepro": (lambda: train_for([run], args.steps, every), args.steps)}, args.repeats)
    plain, ours = rates["plain"], rates["grokrepro"]
    report = {
        "config": {"task": "x/y mod 97, 50 % train", "model": "2-layer post-LN transformer, d 128, 4 heads",
                   "batch_size": batch, "evaluate_every": every, "train_examples": n_train,
                   "steps_timed": args.steps, "repeats": args.repeats, "threads": torch.get_num_threads()},
        "matmul_peak_gflops": peak / 1e9,
        "plain_loop_steps_per_s": plain,
        "grokrepro_steps_per_s": ours,
        "grokrepro_vs_plain": ours / plain,
        "plain_mfu": plain * flops_per_step / peak,
        "grokrepro_mfu_of_plain_work": ours * flops_per_step / peak,
    }
    report["host"] = host()
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nPower et al. configuration; matmul peak {peak / 1e9:.0f} GFLOP/s, {torch.get_num_threads()} threads")
    print(f"{'':28}{'steps/s':>10}{'MFU':>8}")
    print(f"{'plain PyTorch loop':28}{plain:10.1f}{report['plain_mfu']:8.0%}")
    print(f"{'grokrepro':28}{ours:10.1f}{report['grokrepro_mfu_of_plain_work']:8.0%}")
    print(f"ratio grokrepro / plain: {report['grokrepro_vs_plain']:.2f}x")


if __name__ == "__main__":
    main()
