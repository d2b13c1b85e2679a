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


# One plate's catalog (same layout): what its selection reads, so that a changed raw file
# re-runs only its plate (the survey catalog above is a product, read by no plate job).
rule plate_catalog:
    input:
        survey=get_survey_inputs(),
        raw="results/{version}/raw/{plate}.tsv",
    output:
        catalog="results/{version}/catalog/plates/{plate}.h5",
    log:
        "logs/{version}/plate_catalog/{plate}.log",
    benchmark:
        "benchmarks/{version}/plate_catalog/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(20),
    params:
        code=CODE_VERSION,
        source=get_plate_catalog_args,
    shell:
        "python -m sdssflow.catalog.steps.exposure_catalog {params.source}"
        " --out {output.catalog} --version-name {wildcards.version} > {log} 2>&1"


rule select_exposures:
    input:
        catalog=get_selection_catalog,
    output:
        sky="results/{version}/selection/sky/selection-sky-{plate}.csv",
        fluxcal="results/{version}/selection/fluxcal/selection-fluxcal-{plate}.csv",
        mwm="results/{version}/selection/mwm/selection-mwm-{plate}.csv",
    log:
        "logs/{version}/select_exposures/{plate}.log",
    benchmark:
        "benchmarks/{version}/select_exposures/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    params:
        code=CODE_VERSION,
        steps=get_selection_steps(),
        flag_rows=get_selection_flag_rows,
    shell:
        "python -m sdssflow.catalog.steps.select_exposures --catalog {input.catalog}"
        " --plate {wildcards.plate} --steps {params.steps:q}"
        " --flag-rows={params.flag_rows:q} --out sky={output.sky}"
        " --out fluxcal={output.fluxcal} --out mwm={output.mwm}"
        " --version-name {wildcards.version} > {log} 2>&1"
