rule dataset:
    params:
        # The dataset id is a hash of the task configuration; the spec file's other edits never remake data.
        spec=lambda wildcards: SPECS[wildcards.claim],
    output:
        f"{RESULTS}/{{claim}}/data/{{dataset}}.npz",
    log:
        f"{LOGS}/{{claim}}/data/{{dataset}}.log",
    shell:
        "grokrepro data {params.spec} --scale {SCALE} --seed-set {SEED_SET} "
        "--dataset {wildcards.dataset} --out {output} > {log} 2>&1"
