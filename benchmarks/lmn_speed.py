"""Time one linear-mapping-number evaluation of the paper's MLP (first hidden layer -> logits).

    python benchmarks/lmn_speed.py [--samples 200] [--repeats 5]

Prints JSON: the best and median wall time over repeats, pairs and forward points evaluated.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from grokrepro.metrics.lmn import linear_mapping_number
from grokrepro.models.networks import EmbeddingMLP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = EmbeddingMLP(31, embed_dim=32, hidden=100, hidden_layers=2, activation="silu")
    pairs = torch.randint(0, 31, (args.samples, 2))
    times = []
    for _ in range(args.repeats + 1):
        began = time.perf_counter()
        with torch.no_grad():
            value = linear_mapping_number(model.first_hidden(pairs), model.from_first_hidden)
        times.append(time.perf_counter() - began)
    times = times[1:]  # the first call warms up allocators
    pairs_count = args.samples * (args.samples - 1) // 2
    print(json.dumps({"samples": args.samples, "pairs": pairs_count, "forward_points": pairs_count * 21,
                      "threads": torch.get_num_threads(), "best_s": min(times),
                      "median_s": statistics.median(times), "lmn": value}, indent=2))


if __name__ == "__main__":
    main()
