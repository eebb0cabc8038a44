rule figure:
    input:
        spec=lambda wildcards: SPECS[wildcards.claim],
        curves=f"{RESULTS}/{{claim}}/curves.nc",
        verdict=f"{RESULTS}/{{claim}}/verdict.json",
    output:
        report(f"{RESULTS}/{{claim}}/figures/{{figure}}.png", category="{claim}"),
    log:
        f"{LOGS}/{{claim}}/figures/{{figure}}.log",
    conda:
        CONDA_ENV
    params:
        scale=SCALE,
    shell:
        "python -m grokrepro.cli figures {input.spec} --scale {params.scale} --curves {input.curves} "
        "--verdict {input.verdict} --only {wildcards.figure} --outdir $(dirname {output}) > {log} 2>&1"
