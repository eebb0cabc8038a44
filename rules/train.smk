rule train:
    input:
        # Not the spec file: outputs are named by content hashes of the run configurations, so a changed
        # configuration trains new groups, while an edited check threshold retrains nothing.
        data=group_data,
        weights=parent_weights,
    output:
        f"{RESULTS}/{{claim}}/runs/{{group}}.nc",
    params:
        spec=lambda wildcards: SPECS[wildcards.claim],
        # Not an output: a checkpoint must survive a killed job so that the rerun resumes from it.
        checkpoint=f"{RESULTS}/{{claim}}/checkpoints/{{group}}.pt",
        data_dir=f"{RESULTS}/{{claim}}/data",
    log:
        f"{LOGS}/{{claim}}/train/{{group}}.log",
    threads: TORCH_THREADS
    shell:
        "grokrepro train {params.spec} --scale {SCALE} --seed-set {SEED_SET} --group {wildcards.group} "
        "--data-dir {params.data_dir} --out {output} --checkpoint {params.checkpoint} "
        "--threads {TORCH_THREADS} --init-from {input.weights} > {log} 2>&1"


rule train_warm_start:
    """The parents of warm-started runs, trained first; their final weights are what the children start from."""
    input:
        data=warm_group_data,
    output:
        curves=f"{RESULTS}/{{claim}}/warm/{{group}}.nc",
        weights=f"{RESULTS}/{{claim}}/warm/{{group}}.weights.pt",
    params:
        spec=lambda wildcards: SPECS[wildcards.claim],
        checkpoint=f"{RESULTS}/{{claim}}/checkpoints/warm-{{group}}.pt",
        data_dir=f"{RESULTS}/{{claim}}/data",
    log:
        f"{LOGS}/{{claim}}/train/warm-{{group}}.log",
    threads: TORCH_THREADS
    shell:
        "grokrepro train {params.spec} --scale {SCALE} --seed-set {SEED_SET} --group {wildcards.group} "
        "--warm-start-parents --data-dir {params.data_dir} --out {output.curves} "
        "--save-weights {output.weights} --checkpoint {params.checkpoint} --threads {TORCH_THREADS} > {log} 2>&1"
