rule dataset:
    output:
        f"{RESULTS}/{{claim}}/data/{{dataset}}.npz",
    log:
        f"{LOGS}/{{claim}}/data/{{dataset}}.log",
    conda:
        CONDA_ENV
    params:
        # The dataset id is a hash of the task configuration; the spec file's other edits never remake data.
        spec=lambda wildcards: SPECS[wildcards.claim],
        scale=SCALE,
        seed_set=SEED_SET,
    shell:
        "python -m grokrepro.cli data {params.spec} --scale {params.scale} --seed-set {params.seed_set} "
        "--dataset {wildcards.dataset} --out {output} > {log} 2>&1"
