rule train:
    input:
        spec=lambda wildcards: SPECS[wildcards.claim],
        data=group_data,
    output:
        f"{RESULTS}/{{claim}}/runs/{{group}}.nc",
    params:
        # Not an output: a checkpoint must survive a killed job so that the rerun resumes from it.
        checkpoint=f"{RESULTS}/{{claim}}/checkpoints/{{group}}.pt",
        data_dir=f"{RESULTS}/{{claim}}/data",
    log:
        f"{LOGS}/{{claim}}/train/{{group}}.log",
    threads: 2
    shell:
        "grokrepro train {input.spec} --scale {SCALE} --seed-set {SEED_SET} --group {wildcards.group} "
        "--data-dir {params.data_dir} --out {output} --checkpoint {params.checkpoint} "
        "--threads {TORCH_THREADS} > {log} 2>&1"
