# Rules of the bosz family (see workflow/rules/common.smk for input functions).
# bosz_download fetches the configured subgrid (MAST, or the demo mirror) once for all
# versions; bosz_library packs it into one HDF5 per version.


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
    threads: BOSZ.get("threads", 8)
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        code=CODE_VERSION,
        base_url=bosz_base_url(),
        subgrid=bosz_subgrid(),
        dest=get_bosz_dest,
        retries=BOSZ.get("retries", 4),
        backoff=BOSZ.get("backoff", 1.0),
        timeout=BOSZ.get("timeout", 60.0),
        file_timeout=BOSZ.get("file_timeout", 900.0),
        refetch="--force" if BOSZ.get("refetch", False) else "",
        version=VERSION,
    shell:
        "python -m sdssflow.fluxcal.bosz_download --base-url {params.base_url:q}"
        " --subgrid {params.subgrid} --dest {params.dest} --manifest {output.manifest}"
        " --threads {threads} --retries {params.retries} --backoff {params.backoff}"
        " --timeout {params.timeout} --file-timeout {params.file_timeout} {params.refetch}"
        " --version-name {params.version} > {log} 2>&1"


rule bosz_library:
    input:
        manifest=bosz_manifest(),
    output:
        library="results/{version}/bosz/bosz_library.h5",
    log:
        "logs/{version}/bosz_library/bosz_library.log",
    benchmark:
        "benchmarks/{version}/bosz_library/bosz_library.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        code=CODE_VERSION,
        wave_min=BOSZ.get("wave_min", 3000.0),
        wave_max=BOSZ.get("wave_max", 11000.0),
        air=("" if BOSZ.get("air_to_vacuum", True) else "--no-air-to-vacuum"),
    shell:
        "python -m sdssflow.fluxcal.bosz_library --manifest {input.manifest}"
        " --output {output.library} --wave-min {params.wave_min} --wave-max {params.wave_max}"
        " {params.air} --threads {threads} --version-name {wildcards.version} > {log} 2>&1"
