rule dataset:
    input:
        spec=lambda wildcards: SPECS[wildcards.claim],
    output:
        f"{RESULTS}/{{claim}}/data/{{dataset}}.npz",
    log:
        f"{LOGS}/{{claim}}/data/{{dataset}}.log",
    shell:
        "grokrepro data {input.spec} --scale {SCALE} --seed-set {SEED_SET} "
        "--dataset {wildcards.dataset} --out {output} > {log} 2>&1"
