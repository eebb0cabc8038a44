"""`grokrepro validate | list | data | train | metrics | verdict | figures | archive | report`: what the rules call
(and `archive`, which a person calls)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from grokrepro.spec import SpecError, expand_runs, load_spec, spec_sha256, training_groups, warm_start_runs
from grokrepro.spec.load import plugin_sha256


def _spec_arguments(parser):
    parser.add_argument("spec", type=Path, help="specs/<claim>.yaml")
    parser.add_argument("--scale", default="default", help="smoke | default | paper")
    parser.add_argument("--seed-set", default="verdict", choices=["verdict", "development"],
                        help="which seeds to run (verdicts only ever use 'verdict')")


def _tree_arguments(parser):
    parser.add_argument("--scale", default="default", help="smoke | default | paper")
    parser.add_argument("--seed-set", default="verdict", choices=["verdict", "development"])
    parser.add_argument("--results", default="results", help="the workflow's results directory")
    parser.add_argument("--specs", default="", help="spec files besides specs/*.yaml, as in --config specs=...")


def cmd_validate(args) -> int:
    from grokrepro.spec.limits import check_limits, workflow_limits

    limits = workflow_limits()
    for path in args.specs:
        load_spec(path)
        for scale in ("smoke", "default", "paper"):  # each scale within the workflow config's ceilings
            check_limits(load_spec(path, scale), path, limits)
        print(f"{path}: ok")
    return 0


def _groups(spec, seed_set: str, warm_start: bool = False):
    """The training groups of a scale, or with `warm_start` the groups of the parents they start from."""
    runs = expand_runs(spec, seed_set)
    return training_groups(warm_start_runs(runs) if warm_start else runs)


def cmd_list(args) -> int:
    from grokrepro.spec.limits import check_limits, workflow_limits

    spec = load_spec(args.spec, args.scale)
    check_limits(spec, args.spec, workflow_limits(), args.seed_set)
    for title, warm in (("warm-start parents", True), ("runs", False)):
        groups = _groups(spec, args.seed_set, warm)
        if groups:
            print(f"# {title}")
        for group_id, runs in groups.items():
            print(f"{group_id}: {len(runs)} runs, {runs[0].train.steps} steps")
            for run in runs:
                parent = f" from={run.warm_start.run_id}" if run.warm_start else ""
                print(f"  {run.run_id} seed={run.seed} {run.coords} data={run.dataset_id}{parent}")
    return 0


def cmd_data(args) -> int:
    spec = load_spec(args.spec, args.scale)
    runs = expand_runs(spec, args.seed_set)
    wanted = {r.dataset_id: r for r in runs + warm_start_runs(runs)}
    if args.dataset not in wanted:
        raise SpecError(f"{args.spec}: no dataset {args.dataset} at scale {args.scale}")
    _write_dataset(wanted[args.dataset], args.out)
    return 0


def _write_dataset(run, out: Path) -> None:
    from grokrepro.tasks import make_dataset

    out.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process: two training jobs that need the same dataset may both write it; the last one wins,
    # and both wrote the same bytes.
    partial = out.with_name(f"{out.stem}.{os.getpid()}.partial.npz")
    make_dataset(run.task, run.split_seed).save(partial)
    partial.replace(out)


def _datasets(runs, data_dir: Path):
    """The runs' datasets, made here on first use and kept in `data_dir` (a dataset is far cheaper to make than
    the process a job of its own would start)."""
    from grokrepro.tasks import Dataset

    for run in runs:
        path = data_dir / f"{run.dataset_id}.npz"
        if not path.is_file():
            _write_dataset(run, path)
    return [Dataset.load(data_dir / f"{run.dataset_id}.npz") for run in runs]


# cuBLAS picks among reduction orders at run time unless its workspace is pinned; with this setting its
# matmuls are deterministic (PyTorch's reproducibility notes). It must be in the environment before CUDA starts.
CUBLAS_WORKSPACE = ":4096:8"


def deterministic_algorithms(device: str = "cpu") -> None:
    """torch.use_deterministic_algorithms(True), without its import of torch._inductor (2.3 s of every training
    job's start-up, to set a flag of the compiler, which the suite never uses). The public function is the
    fallback where the private setter is gone.

    On the CPU it only warns, as it always has: every op the trainer uses is deterministic there. On CUDA it is
    strict, so that an op without a deterministic kernel stops the job instead of quietly changing bits, and
    cuBLAS's workspace is pinned (an explicit CUBLAS_WORKSPACE_CONFIG is left as the user set it)."""
    import torch

    warn_only = device != "cuda"
    if not warn_only:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
    else:
        setter(True, warn_only=warn_only)


def cmd_train(args) -> int:
    import torch

    from grokrepro.cluster import training_device
    from grokrepro.metrics.curves import group_dataset, write_atomic
    from grokrepro.provenance import provenance
    from grokrepro.train import EnsembleTrainer

    torch.set_num_threads(args.threads)
    spec = load_spec(args.spec, args.scale)
    groups = _groups(spec, args.seed_set, warm_start=args.warm_start_parents)
    if args.group not in groups:
        raise SpecError(f"{args.spec}: no training group {args.group} at scale {args.scale}")
    runs = groups[args.group]
    # Before any CUDA call: the cuBLAS workspace setting is read when CUDA starts.
    device = training_device(runs, args.scale, args.allow_cpu_paper)
    deterministic_algorithms(device)
    print(f"{args.group}: {len(runs)} runs on {device}", file=sys.stderr, flush=True)
    datasets = _datasets(runs, args.data_dir)
    initial = None
    if runs[0].warm_start is not None:
        from grokrepro.train.warm_start import initial_params

        initial = initial_params(runs, args.init_from)
    trainer = EnsembleTrainer(runs, datasets, checkpoint_path=args.checkpoint, initial_params=initial, device=device)
    result = trainer.run(progress=not args.quiet)
    if args.save_weights:
        from grokrepro.train.warm_start import save_weights

        save_weights(trainer.final_params(), args.save_weights)
    attrs = {"claim": spec.claim, "scale": spec.scale, "seed_set": args.seed_set,
             "spec_sha256": spec_sha256(args.spec), "spec_json": spec.model_dump_json(),
             "plugin_sha256": json.dumps(plugin_sha256(args.spec, spec), sort_keys=True), **provenance(result.device)}
    write_atomic(group_dataset(result, runs, attrs), args.out)
    if args.checkpoint:  # the group's file is complete: nothing left to resume
        from grokrepro.train.checkpoint import discard

        discard(args.checkpoint)
    print(f"{args.group}: {len(runs)} runs, {result.steps_per_second:.1f} steps/s, "
          f"{result.wall_seconds:.1f} s on {result.device}", file=sys.stderr)
    return 0


def cmd_metrics(args) -> int:
    from grokrepro.integrity import set_aside
    from grokrepro.metrics.curves import CorruptResultError, merge_groups, write_atomic
    from grokrepro.provenance import provenance

    spec = load_spec(args.spec, args.scale)
    attrs = {"claim": spec.claim, "scale": spec.scale, "seed_set": args.seed_set,
             "spec_sha256": spec_sha256(args.spec), "spec_json": spec.model_dump_json(),
             "plugin_sha256": json.dumps(plugin_sha256(args.spec, spec), sort_keys=True), **provenance()}
    attrs.pop("device")
    sweep_coords = {run.run_id: run.coords for run in expand_runs(spec, args.seed_set)}
    try:
        merged = merge_groups(args.groups, attrs, sweep_coords)
    except CorruptResultError as error:
        if error.path not in {Path(p) for p in args.groups}:
            raise
        # Set aside, the group file is missing at the next run, and Snakemake retrains it.
        aside = set_aside(error.path)
        raise CorruptResultError(f"{error}; moved to {aside.name}: run the workflow again to retrain it",
                                 error.path) from None
    write_atomic(merged, args.out)
    return 0


def cmd_verdict(args) -> int:
    from grokrepro.claims.evaluate import judge

    spec = load_spec(args.spec, args.scale)
    others = dict(item.split("=", 1) for item in args.other_curves)
    missing = sorted(set(spec.uses_claims) - set(others))
    if missing:
        raise SpecError(f"{args.spec}: uses the curves of {missing}; pass them with --other-curves claim=path")
    verdict = judge(spec, spec_sha256(args.spec), args.curves, others, args.seed_set,
                    plugins=plugin_sha256(args.spec, spec))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    verdict.write(args.out)
    print(f"{spec.claim} ({spec.scale}): {verdict.verdict}", file=sys.stderr)
    return 0


def cmd_figures(args) -> int:
    from grokrepro.figures import draw_figures

    spec = load_spec(args.spec, args.scale)
    draw_figures(spec, args.curves, args.verdict, args.outdir, only=args.only)
    return 0


def cmd_report(args) -> int:
    from grokrepro.report import write_report

    names = [n for n in args.claims.split(",") if n] if args.claims else None
    write_report(args.claim_dirs, args.out, args.summary, names)
    return 0


def cmd_summary(args) -> int:
    from grokrepro.report import write_summary

    write_summary(args.claim_dirs, args.out, args.report)
    return 0


def _results_tree(args) -> Path:
    from grokrepro.outputs import seed_suffix

    return Path(args.results) / f"{args.scale}{seed_suffix(args.seed_set)}"


def _check_problems(args):
    from grokrepro.check import check_tree
    from grokrepro.spec.discover import discover_specs

    return check_tree(_results_tree(args), discover_specs(Path("specs"), args.specs or ""), args.scale,
                      args.seed_set)


def _report_problems(problems, args) -> None:
    from grokrepro.check import repair_command

    for problem in problems:
        print(f"grokrepro: {problem}", file=sys.stderr)
    print(f"grokrepro: {len(problems)} problems; rebuild with: {repair_command(problems, args.scale, args.seed_set)}",
          file=sys.stderr)


def cmd_check(args) -> int:
    problems = _check_problems(args)
    if problems:
        _report_problems(problems, args)
        return 1
    print(f"{_results_tree(args)}: every claim's training groups and curves are present and match the sha256 its "
          "verdict recorded", file=sys.stderr)
    return 0


def cmd_archive(args) -> int:
    from grokrepro.archive import write_archive
    from grokrepro.outputs import VERDICT_SEEDS, published_dir, seed_suffix
    from grokrepro.spec.discover import discover_specs

    results = _results_tree(args)
    seeds = "" if args.seed_set == VERDICT_SEEDS else f" seed_set={args.seed_set}"
    # An archive must rebuild every verdict without training: refuse a tree with a file missing or changed.
    problems = _check_problems(args)
    if problems:
        _report_problems(problems, args)
        print("grokrepro: error: the tree is incomplete or changed; not archiving it", file=sys.stderr)
        return 1
    manifest = write_archive(results, args.out, discover_specs(Path("specs"), args.specs or ""))
    total = sum(f["bytes"] for f in manifest["files"].values())
    print(f"{args.out}: {len(manifest['files'])} files of {len(manifest['claims'])} claims, {total / 1e6:.1f} MB, "
          f"each with its sha256; rebuild with: snakemake -c2 {published_dir(args.scale, args.seed_set)}/all "
          f"--config scale={args.scale}{seeds} restore={args.out}", file=sys.stderr)
    return 0


def cmd_checks(args) -> int:
    from grokrepro.guide import check_kinds_markdown

    print(check_kinds_markdown(Path("specs") if Path("specs").is_dir() else None))
    return 0


def cmd_docs(args) -> int:
    from grokrepro.docs_blocks import BLOCKS, stale_blocks, write_blocks

    if args.record is not None:
        from grokrepro.claims_table import write_record

        try:
            print(f"recorded {write_record(args.record, args.root)}", file=sys.stderr)
        except ValueError as error:
            print(f"grokrepro: error: {error}", file=sys.stderr)
            return 2
    if args.write or args.record is not None:
        try:
            written = write_blocks(args.root)
        except ValueError as error:  # a page lost its markers: where the block goes is for a person to say
            print(f"grokrepro: error: {error}", file=sys.stderr)
            return 2
        for name in written:
            print(f"rewrote {name}", file=sys.stderr)
        print(f"{len(BLOCKS)} generated blocks, {len(written)} rewritten", file=sys.stderr)
        return 0
    stale = stale_blocks(args.root)
    for name in stale:
        print(f"stale: {name}", file=sys.stderr)
    if stale:
        print("grokrepro: error: generated docs are stale; run `grokrepro docs --write`", file=sys.stderr)
        return 1
    print(f"{len(BLOCKS)} generated blocks up to date", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grokrepro", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("validate", help="validate spec files (every scale)")
    p.add_argument("specs", nargs="+", type=Path)
    p.set_defaults(handler=cmd_validate)

    p = commands.add_parser("list", help="show the training groups and runs of one scale")
    _spec_arguments(p)
    p.set_defaults(handler=cmd_list)

    p = commands.add_parser("data", help="write one dataset (all pairs, labels and the split)")
    _spec_arguments(p)
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=cmd_data)

    p = commands.add_parser("train", help="train one group of runs in one vmapped process")
    _spec_arguments(p)
    p.add_argument("--group", required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warm-start-parents", action="store_true",
                   help="the group is one of the parents that other runs start from")
    p.add_argument("--save-weights", type=Path, help="also save the final weights (for warm starts)")
    p.add_argument("--init-from", type=Path, nargs="*", default=[],
                   help="weights files of the parents this group's runs start from")
    p.add_argument("--allow-cpu-paper", action="store_true",
                   help="let a paper-scale group of train.device auto train on the CPU when no GPU is found")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler=cmd_train)

    p = commands.add_parser("metrics", help="merge trained groups into one curves.nc")
    _spec_arguments(p)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("groups", nargs="+", type=Path)
    p.set_defaults(handler=cmd_metrics)

    p = commands.add_parser("verdict", help="compute the claim's checks and verdict from saved curves")
    _spec_arguments(p)
    p.add_argument("--curves", type=Path, required=True)
    p.add_argument("--other-curves", nargs="*", default=[], metavar="CLAIM=PATH",
                   help="curves of the other claims the spec uses_claims")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=cmd_verdict)

    p = commands.add_parser("figures", help="draw the claim's figures")
    _spec_arguments(p)
    p.add_argument("--curves", type=Path, required=True)
    p.add_argument("--verdict", type=Path, required=True)
    p.add_argument("--outdir", type=Path, required=True)
    p.add_argument("--only", help="draw just this figure")
    p.set_defaults(handler=cmd_figures)

    p = commands.add_parser("archive", help="pack a scale's trained curves, verdicts and provenance into one file "
                                           "(after `check` passes)")
    _tree_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="the archive to write (.tar.gz)")
    p.set_defaults(handler=cmd_archive)

    p = commands.add_parser("check", help="is every claim's data present and what its verdict was computed from?")
    _tree_arguments(p)
    p.set_defaults(handler=cmd_check)

    p = commands.add_parser("checks", help="list every check kind with its params (docs/check-kinds.md)")
    p.set_defaults(handler=cmd_checks)

    p = commands.add_parser("docs", help="rewrite (--write) or check (--check) the docs generated from code and data")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite every generated block that is stale")
    action.add_argument("--check", action="store_true", help="exit 1 naming each generated block that is stale")
    action.add_argument("--record", type=Path, metavar="PUBLISHED",
                        help="record the verdicts of a default-scale tree (paper) in docs/results/default.json, "
                             "then rewrite the blocks (the README's claims table reads the record)")
    p.add_argument("--root", type=Path, default=Path("."), help="the repository's root (default: here)")
    p.set_defaults(handler=cmd_docs)

    p = commands.add_parser("report", help="write the self-contained HTML audit report")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--summary", type=Path, help="also write a one-line-per-claim verdict summary here")
    p.add_argument("--claims", help="list only these claims, comma-separated (absent or empty: every "
                                    "paper's claim and every folder given)")
    p.add_argument("claim_dirs", nargs="*", type=Path, help="paper/<claim> folders with verdict.json")
    p.set_defaults(handler=cmd_report)

    p = commands.add_parser("summary", help="write the one-line-per-claim verdict summary of a report")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--report", type=Path, required=True, help="the report the summary points to")
    p.add_argument("claim_dirs", nargs="*", type=Path, help="paper/<claim> folders with verdict.json")
    p.set_defaults(handler=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    from grokrepro.archive import ArchiveError
    from grokrepro.cluster import DeviceError
    from grokrepro.integrity import CorruptFileError
    from grokrepro.metrics.curves import IncompleteResultError

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (SpecError, IncompleteResultError, FileNotFoundError, ArchiveError, CorruptFileError, DeviceError) as error:
        print(f"grokrepro: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
