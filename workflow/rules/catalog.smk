# The exposure catalog (almanac layout) and the per-plate, flag-filtered selections.


rule raw_manifest:
    input:
        survey=get_survey_inputs(),
    output:
        manifest="results/{version}/raw/{plate}.tsv",
    log:
        "logs/{version}/raw_manifest/{plate}.log",
    benchmark:
        "benchmarks/{version}/raw_manifest/{plate}.tsv"
    localrule: True
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(200),
        runtime=grow(5),
    params:
        code=CODE_VERSION,
        args=get_raw_manifest_args,
    shell:
        "python -m sdssflow.catalog.steps.raw_manifest {params.args} --out {output.manifest}"
        " --version-name {wildcards.version} > {log} 2>&1"


rule exposure_catalog:
    input:
        unpack(get_catalog_input),
    output:
        catalog="results/{version}/catalog/exposures.h5",
    log:
        "logs/{version}/exposure_catalog/exposure_catalog.log",
    benchmark:
        "benchmarks/{version}/exposure_catalog/exposure_catalog.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(120),
    params:
        code=CODE_VERSION,
        source=get_catalog_source_args(),
    shell:
        "python -m sdssflow.catalog.steps.exposure_catalog {params.source}"
        " --out {output.catalog} --version-name {wildcards.version} > {log} 2>&1"


# One job per plate: the plate's catalog (same layout as the survey's; what its selection
# reads, so that a changed raw file re-runs only its plate: the survey catalog above is a
# product, read by no plate job), then the selection table of each step. One job for both
# (sdssflow.catalog.steps.plate_selection): 2,500 jobs fewer in the survey DAG.
rule select_exposures:
    input:
        unpack(get_select_exposures_input),
    output:
        sky="results/{version}/selection/sky/selection-sky-{plate}.csv",
        fluxcal="results/{version}/selection/fluxcal/selection-fluxcal-{plate}.csv",
        mwm="results/{version}/selection/mwm/selection-mwm-{plate}.csv",
        catalog="results/{version}/catalog/plates/{plate}.h5",
    log:
        "logs/{version}/select_exposures/{plate}.log",
    benchmark:
        "benchmarks/{version}/select_exposures/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(30),
    params:
        code=CODE_VERSION,
        source=PLATE_CATALOG_SOURCE,
        select=SELECT_CATALOG_ARG,
        steps=get_selection_steps(),
        flag_rows=get_selection_flag_rows,
    shell:
        "python -m sdssflow.catalog.steps.plate_selection {params.source} --plate {wildcards.plate}"
        " --catalog-out {output.catalog} {params.select} --steps {params.steps:q}"
        " --flag-rows={params.flag_rows:q} --out sky={output.sky}"
        " --out fluxcal={output.fluxcal} --out mwm={output.mwm}"
        " --version-name {wildcards.version} > {log} 2>&1"
