import json
import re
import sys
from pathlib import Path

from grokrepro.archive import ArchiveError, only_plans, restore_archive
from grokrepro.claims.catalog import CLAIMS
from grokrepro.cluster import training_cost, training_resources
from grokrepro.outputs import logs_dir, published_dir, results_dir, wrong_tree_message
from grokrepro.spec import SpecError, expand_runs, training_groups, warm_start_runs
from grokrepro.spec.discover import load_claims
from grokrepro.spec.limits import DEFAULT_LIMITS, check_limits
from grokrepro.spec.load import plugin_files

SCALE = config["scale"]
SEED_SET = config["seed_set"]
# Every scale and seed set has its own trees (grokrepro.outputs), so that no run overwrites another's results
# or passes for a verdict: default publishes in paper/, smoke in paper-smoke/, development seeds in
# paper-development/, paper-smoke-development/, ...
RESULTS = results_dir(SCALE, SEED_SET)
LOGS = logs_dir(SCALE, SEED_SET)
PAPER = published_dir(SCALE, SEED_SET)
TORCH_THREADS = int(config["torch_threads"])
# --config allow_cpu_paper=true: the paper scale may train on CPUs (its jobs then ask for no GPU, and a job that
# finds none trains on the CPU instead of refusing). Off by default: that scale takes weeks of CPU time.
ALLOW_CPU_PAPER = str(config.get("allow_cpu_paper", False)).lower() in ("true", "1", "yes")
# The software of every job under --sdm conda (relative to rules/). Without it, jobs run in the current environment.
# Either way, jobs call `python -m grokrepro.cli`, which imports the grokrepro of the workflow's own directory.
CONDA_ENV = "../envs/grokrepro.yaml"

# Every specs/*.yaml is a claim of the workflow, and so is every file of --config specs=a.yaml,b.yaml: the
# eight papers' claims are specs that ship, a researcher's own experiment is one more file. A claim's name is
# its spec's `claim` field. A spec that does not validate is left out (BROKEN, with its message naming file and
# field): the other claims still run, and a target that needs it (paper/<claim>, paper/all) fails when the DAG
# is built, before any job starts. Two specs of one claim stop the whole workflow.
try:
    SPECS, RESOLVED, BROKEN = load_claims(Path("specs"), config.get("specs") or "", SCALE)
except SpecError as error:
    sys.stderr.write(f"grokrepro: invalid spec, nothing was run.\n{error}\n")
    sys.exit(1)
# A spec above the workflow's ceilings (config `limits`) is left out like one that does not validate.
for name, spec in list(RESOLVED.items()):
    try:
        check_limits(spec, SPECS[name], {**DEFAULT_LIMITS, **config.get("limits", {})}, SEED_SET)
    except SpecError as error:
        BROKEN[name] = str(error)
        del RESOLVED[name], SPECS[name]
for message in BROKEN.values():
    sys.stderr.write(f"grokrepro: invalid spec, left out: {message.splitlines()[0]}\n")
# The papers' claims that have no spec yet: listed in the report as not implemented, never as reproduced.
NOT_IMPLEMENTED = [name for name in CLAIMS if name not in SPECS and name not in BROKEN]
# --config claims=a,b: the claims paper/report.html lists and builds (default: every one). paper/all stays every
# claim, so it refuses a choice rather than publish a partial report under its name.
CHOSEN = config.get("claims") or []
CHOSEN = [name.strip() for name in (CHOSEN.split(",") if isinstance(CHOSEN, str) else CHOSEN) if name.strip()]
unknown = [name for name in CHOSEN if name not in {*SPECS, *BROKEN, *CLAIMS}]
if unknown:
    sys.stderr.write(
        f"grokrepro: --config claims={','.join(CHOSEN)}: no spec declares {unknown} "
        f"(claims found: {', '.join(sorted({*SPECS, *BROKEN}))}), nothing was run.\n"
    )
    sys.exit(1)

RUNS = {name: expand_runs(spec, SEED_SET) for name, spec in RESOLVED.items()}
GROUPS = {name: training_groups(runs) for name, runs in RUNS.items()}
# Runs that start from another run's final weights: those parents train first, in groups of their own.
WARM_GROUPS = {name: training_groups(warm_start_runs(runs)) for name, runs in RUNS.items()}

# --config restore=<archive>: the archive's trained files of this workflow's claims and groups are put back
# (each checked against its sha256 while it streams to disk) before the DAG is planned, so the workflow rebuilds
# curves, verdicts, figures and the report without training a step. A command that only plans (-n, --unlock,
# --summary, ...) checks the archive and writes nothing; its plan then still shows the training it would skip.
if config.get("restore"):
    expected = {
        name: {f"runs/{group}.nc" for group in GROUPS[name]}
        | {f"warm/{group}.{ext}" for group in WARM_GROUPS[name] for ext in ("nc", "weights.pt")}
        for name in SPECS
    }
    planning = only_plans(sys.argv[1:]) or not workflow.is_main_process
    try:
        restored = restore_archive(Path(config["restore"]), Path(RESULTS), expected, write=not planning)
    except ArchiveError as error:
        sys.stderr.write(f"grokrepro: archive refused, nothing was run.\n{error}\n")
        sys.exit(1)
    if planning and workflow.is_main_process:
        sys.stderr.write(
            f"grokrepro: {config['restore']} checked; {len(restored)} trained files would be restored "
            "(nothing written: this command only plans, so the plan below still trains them)\n"
        )
    elif restored:
        sys.stderr.write(f"grokrepro: restored {len(restored)} trained files from {config['restore']}\n")


def lost_data(claim):
    """The files this claim's verdict was computed from (its group files and curves.nc) that are gone.

    Snakemake does not rebuild a deleted intermediate file while the files downstream of it are up to date, so
    `publish` takes these as a parameter: when one is gone, the parameter differs from the one recorded at the
    last publish, and Snakemake reruns publish, and with it every missing file it reads, and everything computed
    from them. (The run after such a repair republishes the claim once more: Snakemake recorded the parameter
    as it was during the repair.)"""
    verdict = Path(RESULTS) / claim / "verdict.json"
    if not verdict.is_file():
        return []
    try:
        recorded = json.loads(verdict.read_text())
    except (OSError, ValueError):
        return []  # an unreadable verdict is remade anyway: it is older than nothing, but the report refuses it
    own = Path(RESULTS) / claim
    paths = [*recorded.get("group_sha256", {}), *recorded.get("data_sha256", {})] or recorded.get("data", [])
    return sorted(p for p in paths if Path(p).parent in (own, own / "runs") and not Path(p).is_file())


LOST = {name: lost_data(name) for name in SPECS}
if any(LOST.values()):
    lost = [path for paths in LOST.values() for path in paths]
    sys.stderr.write(
        f"grokrepro: {len(lost)} files that verdicts were computed from are missing (e.g. {lost[0]}); "
        "they are rebuilt, with everything computed from them\n"
    )


wildcard_constraints:
    claim="|".join(SPECS) or "no-claim",
    missing="|".join(NOT_IMPLEMENTED) or "no-claim",
    broken="|".join(map(re.escape, BROKEN)) or "no-claim",
    group=r"g[0-9a-f]+",
    # Another scale's or seed set's published tree (paper, paper-smoke, paper-development, ...), not this one's.
    other_tree=rf"(?!{re.escape(PAPER)}/)paper(-[a-z0-9_]+)*",


def group_files(wildcards):
    return [f"{RESULTS}/{wildcards.claim}/runs/{group}.nc" for group in GROUPS[wildcards.claim]]


def parent_weights(wildcards):
    """The weights files of the parent groups this group's runs start from (none for runs from scratch)."""
    parents = {run.warm_start.run_id for run in GROUPS[wildcards.claim][wildcards.group] if run.warm_start}
    return sorted(
        f"{RESULTS}/{wildcards.claim}/warm/{group}.weights.pt"
        for group, runs in WARM_GROUPS[wildcards.claim].items()
        if parents & {run.run_id for run in runs}
    )


def train_resource(name):
    """One scheduler resource of a training group (grokrepro.cluster), as a function of the job's wildcards."""

    def resource(wildcards):
        groups = {**GROUPS[wildcards.claim], **WARM_GROUPS[wildcards.claim]}  # warm-start parents too
        runs = groups[wildcards.group]
        return training_resources(runs, SCALE, config["train_resources"], TORCH_THREADS, ALLOW_CPU_PAPER)[name]

    return resource


# Job priorities: warm-start parents before every other training group (their children wait for them), and a
# claim's curves, verdict, figures and page as soon as its training is done (they take seconds), so that claims
# finish one by one during a long run instead of all at its end.
WARM_START_FIRST = 1_000_000_000
FINISH_CLAIM_FIRST = 2_000_000_000


def train_priority(wildcards):
    """Longest training groups first (grokrepro.cluster.training_cost), so that the last jobs to start are short
    ones and no core idles at the end while one long group finishes alone. Warm-start parents go before all of
    them: their children cannot start until they end."""
    if wildcards.group in WARM_GROUPS[wildcards.claim]:
        return WARM_START_FIRST + training_cost(WARM_GROUPS[wildcards.claim][wildcards.group])
    return training_cost(GROUPS[wildcards.claim][wildcards.group])


def used_curves(wildcards):
    """Curves of the other claims this claim's checks read (spec field uses_claims)."""
    return {other: f"{RESULTS}/{other}/curves.nc" for other in RESOLVED[wildcards.claim].uses_claims}


def refuse(message):
    """An input function that fails with `message` (formatted with the job's wildcards) when the DAG is built:
    the target cannot be made, and no job of this run starts."""

    def fail(wildcards):
        raise ValueError(message(wildcards))

    return fail


def report_claims(wildcards):
    """The published folders paper/report.html lists: --config claims=..., or every claim."""
    names = CHOSEN or [*SPECS, *BROKEN]
    broken = [name for name in names if name in BROKEN]
    if broken:
        raise ValueError(broken_message(broken, f"{PAPER}/report.html"))
    return [f"{PAPER}/{name}" for name in names if name in SPECS]


def every_claim(wildcards):
    """paper/all: every claim, with no invalid spec and no choice of claims."""
    if CHOSEN:
        raise ValueError(
            f"grokrepro: {PAPER}/all is every claim, and --config claims={','.join(CHOSEN)} chooses some: "
            f"ask for {PAPER}/report.html to report only those"
        )
    if BROKEN:
        raise ValueError(broken_message(list(BROKEN), f"{PAPER}/all"))
    return expand(f"{PAPER}/{{claim}}", claim=SPECS)


def broken_message(names, target):
    lines = [
        f"grokrepro: {target} needs claim {name}, whose spec is invalid: {BROKEN[name].splitlines()[0]}"
        for name in names
    ]
    return "\n".join(lines)


def plugins(wildcards):
    """The plug-in files a claim's spec names: inputs of its jobs, so that editing one reruns them."""
    return [str(path) for path in plugin_files(SPECS[wildcards.claim], RESOLVED[wildcards.claim])]
