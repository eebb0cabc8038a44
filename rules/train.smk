rule train:
    input:
        # Not the spec file: outputs are named by content hashes of the run configurations, so a changed
        # configuration trains new groups, while an edited check threshold retrains nothing. The datasets are
        # made by the training job itself (cached under data/): a job of their own costs more than they do.
        weights=parent_weights,
        plugins=plugins,
    output:
        f"{RESULTS}/{{claim}}/runs/{{group}}.nc",
    log:
        f"{LOGS}/{{claim}}/train/{{group}}.log",
    priority: train_priority
    conda:
        CONDA_ENV
    threads: TORCH_THREADS
    # What a cluster scheduler is asked for (profiles/slurm); a GPU only where the job will train on one (the paper
    # scale, or train.device: cuda), see grokrepro/cluster.py.
    resources:
        cpus_per_task=train_resource("cpus_per_task"),
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
        gpu=train_resource("gpu"),
    params:
        spec=lambda wildcards: SPECS[wildcards.claim],
        scale=SCALE,
        seed_set=SEED_SET,
        torch_threads=TORCH_THREADS,
        device_options="--allow-cpu-paper" if ALLOW_CPU_PAPER else "",
        # Not an output: a checkpoint must survive a killed job so that the rerun resumes from it.
        checkpoint=f"{RESULTS}/{{claim}}/checkpoints/{{group}}.pt",
        data_dir=f"{RESULTS}/{{claim}}/data",
    shell:
        # Snakemake deletes a job's log before it starts, so each attempt's output is also appended to a history
        # beside the checkpoint: a resumed job's log begins with the interrupted attempts' (removed on success).
        "mkdir -p $(dirname {params.checkpoint}); (cat {params.checkpoint}.log 2>/dev/null || true) > {log}; "
        "python -m grokrepro.cli train {params.spec} --scale {params.scale} --seed-set {params.seed_set} "
        "--group {wildcards.group} --data-dir {params.data_dir} --out {output} "
        "--checkpoint {params.checkpoint} --threads {params.torch_threads} {params.device_options} "
        "--init-from {input.weights} 2>&1 | tee -a {params.checkpoint}.log >> {log}; rm -f {params.checkpoint}.log"


rule train_warm_start:
    """The parents of warm-started runs, trained first; their final weights are what the children start from."""
    input:
        plugins=plugins,
    output:
        curves=f"{RESULTS}/{{claim}}/warm/{{group}}.nc",
        weights=f"{RESULTS}/{{claim}}/warm/{{group}}.weights.pt",
    log:
        f"{LOGS}/{{claim}}/train/warm-{{group}}.log",
    priority: train_priority
    conda:
        CONDA_ENV
    threads: TORCH_THREADS
    resources:
        cpus_per_task=train_resource("cpus_per_task"),
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
        gpu=train_resource("gpu"),
    params:
        spec=lambda wildcards: SPECS[wildcards.claim],
        scale=SCALE,
        seed_set=SEED_SET,
        torch_threads=TORCH_THREADS,
        device_options="--allow-cpu-paper" if ALLOW_CPU_PAPER else "",
        checkpoint=f"{RESULTS}/{{claim}}/checkpoints/warm-{{group}}.pt",
        data_dir=f"{RESULTS}/{{claim}}/data",
    shell:
        "mkdir -p $(dirname {params.checkpoint}); (cat {params.checkpoint}.log 2>/dev/null || true) > {log}; "
        "python -m grokrepro.cli train {params.spec} --scale {params.scale} --seed-set {params.seed_set} "
        "--group {wildcards.group} --warm-start-parents --data-dir {params.data_dir} --out {output.curves} "
        "--save-weights {output.weights} --checkpoint {params.checkpoint} --threads {params.torch_threads} "
        "{params.device_options} 2>&1 | tee -a {params.checkpoint}.log >> {log}; rm -f {params.checkpoint}.log"
