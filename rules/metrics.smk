rule curves:
    input:
        spec=lambda wildcards: SPECS[wildcards.claim],
        groups=group_files,
    output:
        f"{RESULTS}/{{claim}}/curves.nc",
    log:
        f"{LOGS}/{{claim}}/curves.log",
    priority: FINISH_CLAIM_FIRST
    conda:
        CONDA_ENV
    params:
        scale=SCALE,
        seed_set=SEED_SET,
    shell:
        "python -m grokrepro.cli metrics {input.spec} --scale {params.scale} --seed-set {params.seed_set} "
        "--out {output} {input.groups} > {log} 2>&1"


rule verdict:
    input:
        spec=lambda wildcards: SPECS[wildcards.claim],
        curves=f"{RESULTS}/{{claim}}/curves.nc",
        others=lambda wildcards: list(used_curves(wildcards).values()),
        plugins=plugins,
    output:
        f"{RESULTS}/{{claim}}/verdict.json",
    log:
        f"{LOGS}/{{claim}}/verdict.log",
    priority: FINISH_CLAIM_FIRST
    conda:
        CONDA_ENV
    params:
        scale=SCALE,
        seed_set=SEED_SET,
        others=lambda wildcards: " ".join(f"{c}={p}" for c, p in used_curves(wildcards).items()),
    shell:
        "python -m grokrepro.cli verdict {input.spec} --scale {params.scale} --seed-set {params.seed_set} "
        "--curves {input.curves} --other-curves {params.others} --out {output} > {log} 2>&1"
