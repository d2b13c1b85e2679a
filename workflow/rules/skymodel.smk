# Rules of the sky-brightness model (issue 14): the survey sky-spectra product and the model
# fitted on it. Both aggregate the whole survey (one job each); inputs in common.smk.


rule sky_spectra:
    input:
        mean=get_sky_spectra_means,
        good="results/{version}/sky/mean_sky_meta_good.fits",
    output:
        spectra=directory("results/{version}/sky/sky_spectra"),
    log:
        "logs/{version}/sky_spectra/sky_spectra.log",
    benchmark:
        "benchmarks/{version}/sky_spectra/sky_spectra.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(16000),
        runtime=grow(120),
    params:
        code=CODE_VERSION,
        max_gb=SKY_MODEL["max_gb"],
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} python -m sdssflow.sky.steps.sky_spectra --mean {input.mean}"
        " --good {input.good} --max-gb {params.max_gb} --out-dir {output.spectra}"
        " --version-name {wildcards.version} > {log} 2>&1"


rule sky_model:
    input:
        spectra="results/{version}/sky/sky_spectra",
    output:
        model="results/{version}/sky/sky_model.fits",
        report=directory("results/{version}/sky/sky_model_report"),
    log:
        "logs/{version}/sky_model/sky_model.log",
    benchmark:
        "benchmarks/{version}/sky_model/sky_model.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(16000),
        runtime=grow(120),
    params:
        code=CODE_VERSION,
        folds=SKY_MODEL["folds"],
        line_list=f"--line-list {SKY['line_list']}" if SKY["line_list"] else "",
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} python -m sdssflow.sky.steps.sky_model --spectra-dir {input.spectra}"
        " {params.line_list} --folds {params.folds} --out {output.model} --report-dir {output.report}"
        " --version-name {wildcards.version} > {log} 2>&1"
