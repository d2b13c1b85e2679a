# Rules of the fluxcal family (see workflow/rules/common.smk for input functions).
# One flux_calibration job per plate-MJD (every selected exposure and camera of it);
# fluxcal_summary stacks the per-plate-MJD summaries of the version.


rule flux_calibration:
    input:
        unpack(get_flux_calibration_input),
    output:
        outdir=directory("results/{version}/fluxcal/{plate}/{mjd}"),
    log:
        "logs/{version}/flux_calibration/{plate}-{mjd}.log",
    benchmark:
        "benchmarks/{version}/flux_calibration/{plate}-{mjd}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(3000),
        runtime=grow(30),
    params:
        code=CODE_VERSION,
        args=get_flux_calibration_args,
        photometry=lambda wildcards: fluxcal_photometry(),
    shell:
        "python -m sdssflow.fluxcal.steps.flux_calibration {params.args}"
        " --selection {input.selection} --library {input.library}"
        " --photometry {params.photometry} --plate {wildcards.plate} --mjd {wildcards.mjd}"
        " --outdir {output.outdir} --version-name {wildcards.version} > {log} 2>&1"


rule fluxcal_summary:
    input:
        dirs=get_fluxcal_summary_input,
    output:
        summary="results/{version}/fluxcal/fluxcal_summary.fits",
    log:
        "logs/{version}/fluxcal_summary/fluxcal_summary.log",
    benchmark:
        "benchmarks/{version}/fluxcal_summary/fluxcal_summary.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    params:
        code=CODE_VERSION,
    shell:
        "python -m sdssflow.fluxcal.steps.fluxcal_summary --inputs {input.dirs}"
        " --output {output.summary} --version-name {wildcards.version} > {log} 2>&1"
