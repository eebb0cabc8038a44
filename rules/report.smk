localrules:
    publish,
    report,
    not_implemented,


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
    input:
        claims=expand(f"{PAPER}/{{claim}}", claim=SPECS),
    output:
        html=f"{PAPER}/report.html",
        summary=f"{PAPER}/all",
    log:
        f"{LOGS}/report.log",
    conda:
        CONDA_ENV
    shell:
        "python -m grokrepro.cli report --out {output.html} --summary {output.summary} {input.claims} > {log} 2>&1"


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
