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
        mem_mb=200,
        runtime=5,
    params:
        code=CODE_VERSION,
        args=get_raw_manifest_args,
    shell:
        "python -m sdssflow.catalog.raw_manifest {params.args} --out {output.manifest}"
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
        "python -m sdssflow.catalog.exposure_catalog {params.source}"
        " --out {output.catalog} --version-name {wildcards.version} > {log} 2>&1"


# The catalog is ancient here: a rewritten catalog does not re-run every plate's selection;
# the plate's raw manifest (and the flag rows, a param) does.
rule select_exposures:
    input:
        catalog=ancient("results/{version}/catalog/exposures.h5"),
        raw="results/{version}/raw/{plate}.tsv",
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
        "python -m sdssflow.catalog.select_exposures --catalog {input.catalog}"
        " --plate {wildcards.plate} --steps {params.steps:q}"
        " --flag-rows={params.flag_rows:q} --out sky={output.sky}"
        " --out fluxcal={output.fluxcal} --out mwm={output.mwm}"
        " --version-name {wildcards.version} > {log} 2>&1"
