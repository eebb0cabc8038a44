import sys
from pathlib import Path

from grokrepro.archive import ArchiveError, restore_archive
from grokrepro.claims.catalog import CLAIMS
from grokrepro.cluster import training_cost, training_resources
from grokrepro.spec import SpecError, expand_runs, load_spec, training_groups, warm_start_runs
from grokrepro.spec.discover import check_used_claims, discover_specs
from grokrepro.spec.load import plugin_files

SCALE = config["scale"]
SEED_SET = config["seed_set"]
# Other seed sets than the verdict seeds get their own trees, so they never overwrite or pass for verdicts.
SEED_SUFFIX = "" if SEED_SET == "verdict" else f"-{SEED_SET}"
RESULTS = f"results/{SCALE}{SEED_SUFFIX}"
LOGS = f"logs/{SCALE}{SEED_SUFFIX}"
PAPER = f"paper{SEED_SUFFIX}"
TORCH_THREADS = int(config["torch_threads"])
# --config allow_cpu_paper=true: the paper scale may train on CPUs (its jobs then ask for no GPU, and a job that
# finds none trains on the CPU instead of refusing). Off by default: that scale takes weeks of CPU time.
ALLOW_CPU_PAPER = str(config.get("allow_cpu_paper", False)).lower() in ("true", "1", "yes")
# The software of every job under --sdm conda (relative to rules/). Without it, jobs run in the current environment.
# Either way, jobs call `python -m grokrepro.cli`, which imports the grokrepro of the workflow's own directory.
CONDA_ENV = "../envs/grokrepro.yaml"

# Every specs/*.yaml is a claim of the workflow, and so is every file of --config specs=a.yaml,b.yaml: the
# eight papers' claims are specs that ship, a researcher's own experiment is one more file. A claim's name is
# its spec's `claim` field. A bad spec stops the workflow here, before any job starts, with the message naming
# file and field.
try:
    SPECS = discover_specs(Path("specs"), config.get("specs") or "")
    RESOLVED = {name: load_spec(path, SCALE) for name, path in SPECS.items()}
    check_used_claims(SPECS, RESOLVED)
except SpecError as error:
    sys.stderr.write(f"grokrepro: invalid spec, nothing was run.\n{error}\n")
    sys.exit(1)
# --config restore=<archive>: the archive's trained files are put back (after checking every sha256) before the
# DAG is planned, so the workflow rebuilds curves, verdicts, figures and the report without training a step.
if config.get("restore"):
    try:
        restored = restore_archive(Path(config["restore"]), Path(RESULTS))
    except ArchiveError as error:
        sys.stderr.write(f"grokrepro: archive refused, nothing was run.\n{error}\n")
        sys.exit(1)
    sys.stderr.write(f"grokrepro: restored {len(restored)} trained files from {config['restore']}\n")
# The papers' claims that have no spec yet: listed in the report as not implemented, never as reproduced.
NOT_IMPLEMENTED = [name for name in CLAIMS if name not in SPECS]

RUNS = {name: expand_runs(spec, SEED_SET) for name, spec in RESOLVED.items()}
GROUPS = {name: training_groups(runs) for name, runs in RUNS.items()}
# Runs that start from another run's final weights: those parents train first, in groups of their own.
WARM_GROUPS = {name: training_groups(warm_start_runs(runs)) for name, runs in RUNS.items()}


wildcard_constraints:
    claim="|".join(SPECS) or "no-claim",
    missing="|".join(NOT_IMPLEMENTED) or "no-claim",
    group=r"g[0-9a-f]+",


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


def plugins(wildcards):
    """The plug-in files a claim's spec names: inputs of its jobs, so that editing one reruns them."""
    return [str(path) for path in plugin_files(SPECS[wildcards.claim], RESOLVED[wildcards.claim])]
