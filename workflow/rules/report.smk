# Rules of the report family: the QC figures and the benchmark table shown by
# `snakemake --report report.html` (captions in workflow/report/). Input functions are
# in the report section of workflow/rules/common.smk. Local rules: a few seconds of
# plotting each, not worth a cluster job.


rule problems:
    input:
        unpack(get_problems_input),
    output:
        fits="results/{version}/problems.fits",
        csv=report(
            "results/{version}/problems.csv",
            caption="../report/problems.rst",
            category="Problems",
        ),
    log:
        "logs/{version}/problems/problems.log",
    benchmark:
        "benchmarks/{version}/problems/problems.tsv"
    localrule: True
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    params:
        code=CODE_VERSION,
        args=get_problems_args,
    shell:
        "python -m sdssflow.qc.steps.problems {params.args} --out {output.fits} --csv {output.csv}"
        " --version-name {wildcards.version} > {log} 2>&1"


rule report_calibration:
    input:
        fluxcal=get_report_calibration_input,
    output:
        figure=report(
            "results/{version}/report/calibration_vectors.png",
            caption="../report/calibration.rst",
            category="Flux calibration",
        ),
    log:
        "logs/{version}/report_calibration/report_calibration.log",
    benchmark:
        "benchmarks/{version}/report_calibration/report_calibration.tsv"
    localrule: True
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    params:
        code=CODE_VERSION,
        max_dirs=REPORT_N_PLATE_MJDS,
    shell:
        "python -m sdssflow.qc.steps.report_figures calibration --fluxcal-dir {input.fluxcal}"
        " --max-dirs {params.max_dirs}"
        " --out {output.figure} --version-name {wildcards.version} > {log} 2>&1"


rule report_sky_lines:
    input:
        mega=f"{sky_dir()}/sky_meta_all.fits",
    output:
        figure=report(
            "results/{version}/report/sky_lines.png",
            caption="../report/sky_lines.rst",
            category="Sky flux",
        ),
    log:
        "logs/{version}/report_sky_lines/report_sky_lines.log",
    benchmark:
        "benchmarks/{version}/report_sky_lines/report_sky_lines.tsv"
    localrule: True
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(10),
    params:
        code=CODE_VERSION,
    shell:
        "python -m sdssflow.qc.steps.report_figures sky-lines --mega {input.mega}"
        " --out {output.figure} --version-name {wildcards.version} > {log} 2>&1"


rule report_mean_sky:
    input:
        contfit=get_report_mean_sky_input,
    output:
        figure=report(
            "results/{version}/report/mean_sky.png",
            caption="../report/mean_sky.rst",
            category="Sky flux",
        ),
    log:
        "logs/{version}/report_mean_sky/report_mean_sky.log",
    benchmark:
        "benchmarks/{version}/report_mean_sky/report_mean_sky.tsv"
    localrule: True
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    params:
        code=CODE_VERSION,
        max_spectra=REPORT_MAX_SPECTRA,
    shell:
        "python -m sdssflow.qc.steps.report_figures mean-sky --contfit {input.contfit}"
        " --max-spectra {params.max_spectra}"
        " --out {output.figure} --version-name {wildcards.version} > {log} 2>&1"


rule report_mwm_stars:
    input:
        status=get_report_mwm_input,
    output:
        figure=report(
            "results/{version}/report/mwm_stars.png",
            caption="../report/mwm_stars.rst",
            category="Milky Way Mapper",
        ),
    log:
        "logs/{version}/report_mwm_stars/report_mwm_stars.log",
    benchmark:
        "benchmarks/{version}/report_mwm_stars/report_mwm_stars.tsv"
    localrule: True
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    params:
        code=CODE_VERSION,
        max_stars=REPORT_MAX_STARS,
    shell:
        "python -m sdssflow.qc.steps.report_figures mwm-star --status {input.status}"
        " --max-stars {params.max_stars}"
        " --out {output.figure} --version-name {wildcards.version} > {log} 2>&1"


rule report_benchmarks:
    input:
        products=get_report_benchmarks_input,
    output:
        figure=report(
            "results/{version}/report/benchmarks.png",
            caption="../report/benchmarks.rst",
            category="Benchmarks",
        ),
        table=report(
            "results/{version}/report/benchmarks.csv",
            caption="../report/benchmarks.rst",
            category="Benchmarks",
        ),
    log:
        "logs/{version}/report_benchmarks/report_benchmarks.log",
    benchmark:
        "benchmarks/{version}/report_benchmarks/report_benchmarks.tsv"
    localrule: True
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    params:
        code=CODE_VERSION,
    shell:
        "python -m sdssflow.qc.steps.report_figures benchmarks --bench-dir benchmarks/{wildcards.version}"
        " --table {output.table} --out {output.figure} --version-name {wildcards.version}"
        " > {log} 2>&1"
