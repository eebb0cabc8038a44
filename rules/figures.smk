rule figures:
    """All of a claim's figures in one job: the generic ones every spec gets and its claim module's own."""
    input:
        spec=lambda wildcards: SPECS[wildcards.claim],
        curves=f"{RESULTS}/{{claim}}/curves.nc",
        verdict=f"{RESULTS}/{{claim}}/verdict.json",
        # a figure may draw the other claims' runs its checks read (their paths are in the verdict's data)
        others=lambda wildcards: list(used_curves(wildcards).values()),
        plugins=plugins,
    output:
        report(directory(f"{RESULTS}/{{claim}}/figures"), patterns=["{figure}.png"], category="{claim}"),
    log:
        f"{LOGS}/{{claim}}/figures.log",
    priority: FINISH_CLAIM_FIRST
    conda:
        CONDA_ENV
    params:
        scale=SCALE,
    shell:
        "python -m grokrepro.cli figures {input.spec} --scale {params.scale} --curves {input.curves} "
        "--verdict {input.verdict} --outdir {output} > {log} 2>&1"
