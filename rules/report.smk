localrules:
    publish,
    report,
    all,
    not_implemented,
    invalid_spec,
    other_tree,


rule publish:
    """paper/<claim>/: the claim's verdict.json and figures, as the audit report reads them."""
    input:
        verdict=f"{RESULTS}/{{claim}}/verdict.json",
        figures=f"{RESULTS}/{{claim}}/figures",
        # Read by nothing here: listed so that a rerun of publish (see lost_data) remakes them when they are gone.
        curves=f"{RESULTS}/{{claim}}/curves.nc",
        groups=group_files,
    output:
        directory(f"{PAPER}/{{claim}}"),
    log:
        f"{LOGS}/{{claim}}/publish.log",
    priority: FINISH_CLAIM_FIRST
    conda:
        CONDA_ENV
    params:
        lost=lambda wildcards: LOST[wildcards.claim],
    shell:
        "(mkdir -p {output} && cp {input.verdict} {input.figures}/*.png {output}/) > {log} 2>&1"


rule report:
    """paper/report.html: the claims of --config claims=... (default: every claim), each with its verdict."""
    input:
        claims=report_claims,
    output:
        f"{PAPER}/report.html",
    log:
        f"{LOGS}/report.log",
    conda:
        CONDA_ENV
    params:
        claims=",".join(CHOSEN),
    shell:
        "python -m grokrepro.cli report --out {output} --claims '{params.claims}' {input.claims} > {log} 2>&1"


rule all:
    """paper/all: every claim and the report of them all, summed up one line per claim."""
    input:
        report=f"{PAPER}/report.html",
        claims=every_claim,
    output:
        f"{PAPER}/all",
    log:
        f"{LOGS}/all.log",
    conda:
        CONDA_ENV
    shell:
        "python -m grokrepro.cli summary --out {output} --report {input.report} {input.claims} > {log} 2>&1"


rule not_implemented:
    output:
        f"{PAPER}/{{missing}}",
    log:
        f"{LOGS}/not_implemented/{{missing}}.log",
    conda:
        CONDA_ENV
    shell:
        # On the terminal too: this message is the whole point of the rule.
        "echo 'grokrepro: claim {wildcards.missing} is not implemented yet (no specs/{wildcards.missing}.yaml)' "
        "| tee {log} >&2; exit 1"


# The two rules below make no file: their input function fails with one line when the DAG is built, so that the
# target stops the run before any job starts (the shell command only keeps --lint content).
rule invalid_spec:
    """paper/<claim> of a spec that does not validate: its message, naming file and field."""
    input:
        refuse(lambda wildcards: broken_message([wildcards.broken], f"{PAPER}/{wildcards.broken}")),
    output:
        f"{PAPER}/{{broken}}",
    log:
        f"{LOGS}/invalid_spec/{{broken}}.log",
    conda:
        CONDA_ENV
    shell:
        "exit 1"


rule other_tree:
    """A target in another scale's or seed set's published tree: where this run publishes instead."""
    input:
        refuse(lambda w: wrong_tree_message(w.other_tree, w.path, SCALE, SEED_SET)),
    output:
        "{other_tree}/{path}",
    log:
        f"{LOGS}/other_tree/{{other_tree}}/{{path}}.log",
    conda:
        CONDA_ENV
    shell:
        "exit 1"
