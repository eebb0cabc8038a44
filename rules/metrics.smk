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


def used_curves(wildcards):
    """Curves of the other claims this claim's checks read (spec field uses_claims)."""
    return {other: f"{RESULTS}/{other}/curves.nc" for other in RESOLVED[wildcards.claim].uses_claims}


rule verdict:
    input:
        spec=lambda wildcards: SPECS[wildcards.claim],
        curves=f"{RESULTS}/{{claim}}/curves.nc",
        others=lambda wildcards: list(used_curves(wildcards).values()),
    output:
        f"{RESULTS}/{{claim}}/verdict.json",
    params:
        others=lambda wildcards: " ".join(f"{c}={p}" for c, p in used_curves(wildcards).items()),
    log:
        f"{LOGS}/{{claim}}/verdict.log",
    shell:
        "grokrepro verdict {input.spec} --scale {SCALE} --seed-set {SEED_SET} --curves {input.curves} "
        "--other-curves {params.others} --out {output} > {log} 2>&1"
