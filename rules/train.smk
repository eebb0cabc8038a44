rule train:
    input:
        # Not the spec file: outputs are named by content hashes of the run configurations, so a changed
        # configuration trains new groups, while an edited check threshold retrains nothing.
        data=group_data,
    output:
        f"{RESULTS}/{{claim}}/runs/{{group}}.nc",
    params:
        spec=lambda wildcards: SPECS[wildcards.claim],
        # Not an output: a checkpoint must survive a killed job so that the rerun resumes from it.
        checkpoint=f"{RESULTS}/{{claim}}/checkpoints/{{group}}.pt",
        data_dir=f"{RESULTS}/{{claim}}/data",
    log:
        f"{LOGS}/{{claim}}/train/{{group}}.log",
    threads: 2
    shell:
        "grokrepro train {params.spec} --scale {SCALE} --seed-set {SEED_SET} --group {wildcards.group} "
        "--data-dir {params.data_dir} --out {output} --checkpoint {params.checkpoint} "
        "--threads {TORCH_THREADS} > {log} 2>&1"
