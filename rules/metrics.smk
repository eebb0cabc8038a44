rule curves:
    input:
        spec=lambda wildcards: SPECS[wildcards.claim],
        groups=group_files,
    output:
        f"{RESULTS}/{{claim}}/curves.nc",
    log:
        f"{LOGS}/{{claim}}/curves.log",
    shell:
        "grokrepro metrics {input.spec} --scale {SCALE} --seed-set {SEED_SET} --out {output} "
        "{input.groups} > {log} 2>&1"


rule verdict:
    input:
        spec=lambda wildcards: SPECS[wildcards.claim],
        curves=f"{RESULTS}/{{claim}}/curves.nc",
    output:
        f"{RESULTS}/{{claim}}/verdict.json",
    log:
        f"{LOGS}/{{claim}}/verdict.log",
    shell:
        "grokrepro verdict {input.spec} --scale {SCALE} --seed-set {SEED_SET} --curves {input.curves} "
        "--out {output} > {log} 2>&1"
