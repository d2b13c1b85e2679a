# Rules of the bosz family (see workflow/rules/common.smk for input functions).
# bosz_download fetches the configured subgrid (MAST, or the demo mirror) once for all
# versions; bosz_library packs it into one HDF5 per version. A file that fails to download
# fails neither job: the manifest records it, bosz_library leaves it out and lists it in
# bosz_library_status.csv (for the survey-wide problem table).


rule bosz_download:
    input:
        unpack(get_bosz_download_input),
    output:
        manifest=bosz_manifest(),
    log:
        f"logs/{VERSION}/bosz_download/bosz_download.log",
    benchmark:
        f"benchmarks/{VERSION}/bosz_download/bosz_download.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: BOSZ["threads"]
    resources:
        mem_mb=grow(1000),
        runtime=grow(240),
    params:
        code=CODE_VERSION,
        base_url=bosz_base_url(),
        subgrid=bosz_subgrid(),
        dest=get_bosz_dest,
        retries=BOSZ["retries"],
        backoff=BOSZ["backoff"],
        timeout=BOSZ["timeout"],
        file_timeout=BOSZ["file_timeout"],
        refetch="--force" if BOSZ["refetch"] else "",
        version=VERSION,
    shell:
        "python -m sdssflow.fluxcal.steps.bosz_download --base-url {params.base_url:q}"
        " --subgrid {params.subgrid} --dest {params.dest} --manifest {output.manifest}"
        " --threads {threads} --retries {params.retries} --backoff {params.backoff}"
        " --timeout {params.timeout} --file-timeout {params.file_timeout} {params.refetch}"
        " --version-name {params.version} > {log} 2>&1"


rule bosz_library:
    input:
        manifest=bosz_manifest(),
    output:
        library="results/{version}/bosz/bosz_library.h5",
        status="results/{version}/bosz/bosz_library_status.csv",
    log:
        "logs/{version}/bosz_library/bosz_library.log",
    benchmark:
        "benchmarks/{version}/bosz_library/bosz_library.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 4
    resources:
        mem_mb=grow(4000),
        runtime=grow(60),
    params:
        code=CODE_VERSION,
        wave_min=BOSZ["wave_min"],
        wave_max=BOSZ["wave_max"],
        air=("" if BOSZ["air_to_vacuum"] else "--no-air-to-vacuum"),
    shell:
        "python -m sdssflow.fluxcal.steps.bosz_library --manifest {input.manifest}"
        " --output {output.library} --status {output.status}"
        " --wave-min {params.wave_min} --wave-max {params.wave_max}"
        " {params.air} --threads {threads} --version-name {wildcards.version} > {log} 2>&1"
