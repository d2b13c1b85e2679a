# The exposure catalog (almanac layout) and the per-plate, flag-filtered selections.


rule exposure_catalog:
    input:
        survey=get_survey_inputs(),
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
        mem_mb=2000,
        runtime=120,
    params:
        code=CODE_VERSION,
        source=get_catalog_source_args(),
    shell:
        "python -m sdssflow.catalog.exposure_catalog {params.source}"
        " --out {output.catalog} --version-name {wildcards.version} > {log} 2>&1"


rule select_exposures:
    input:
        catalog="results/{version}/catalog/exposures.h5",
    output:
        selection="results/{version}/selection/{step}/selection-{step}-{plate}.csv",
    log:
        "logs/{version}/select_exposures/{step}-{plate}.log",
    benchmark:
        "benchmarks/{version}/select_exposures/{step}-{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=CODE_VERSION,
        selection=get_selection_name,
        query=get_selection_query,
        exclude=get_selection_exclude,
        flag_rows=get_selection_flag_rows,
    shell:
        "python -m sdssflow.catalog.select_exposures --catalog {input.catalog}"
        " --plate {wildcards.plate} --selection-name {params.selection:q}"
        " --query {params.query:q} --exclude={params.exclude:q}"
        " --flag-rows={params.flag_rows:q} --out {output.selection}"
        " --version-name {wildcards.version} > {log} 2>&1"
