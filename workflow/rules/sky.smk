# Rules of the sky family (see workflow/rules/common.smk for input functions).
# One sky_plate job per plate (all its MJDs, exposures and cameras) runs the six per-plate
# steps in one process (sdssflow.sky.steps.sky_plate); mega files aggregate all plates.
# BLAS/OpenMP threads equal each rule's threads: Snakemake exports OMP_NUM_THREADS={threads} and
# sdssflow.steps.run_step pins every thread pool to it (one place for all rules).


rule sky_plate:
    input:
        unpack(get_sky_plate_input),
    output:
        skyflux="results/{version}/sky/{plate}/skyflux-{plate}.fits",
        rich="results/{version}/sky/{plate}/rich-{plate}.fits",
        lines="results/{version}/sky/{plate}/lines-{plate}.fits",
        mean="results/{version}/sky/{plate}/mean-{plate}.fits",
        meanlines="results/{version}/sky/{plate}/meanlines-{plate}.fits",
        contfit="results/{version}/sky/{plate}/contfit-{plate}.fits",
    log:
        "logs/{version}/sky_plate/{plate}.log",
    benchmark:
        "benchmarks/{version}/sky_plate/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(60),
    params:
        code=CODE_VERSION,
        flux=get_sky_flux_args,
        tables=get_sky_plate_table_args,
        products=get_sky_products_args(),
    shell:
        "python -m sdssflow.sky.steps.sky_plate --plate {wildcards.plate} {params.flux}"
        " --selection {input.selection} {params.tables} {params.products}"
        " --skyflux {output.skyflux} --rich {output.rich}"
        " --lines {output.lines} --mean {output.mean} --meanlines {output.meanlines}"
        " --contfit {output.contfit} --version-name {wildcards.version} > {log} 2>&1"


rule mega_file:
    input:
        tables=get_sky_tables("lines"),
    output:
        all="results/{version}/sky/sky_meta_all.fits",
        good="results/{version}/sky/sky_meta_good.fits",
        removed="results/{version}/sky/sky_meta_removed.fits",
    log:
        "logs/{version}/mega_file/mega_file.log",
    benchmark:
        "benchmarks/{version}/mega_file/mega_file.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(8000),
        runtime=grow(60),
    params:
        code=CODE_VERSION,
        cuts=get_sky_mega_args(),
        line_list=f"--line-list {SKY['line_list']}" if SKY["line_list"] else "",
    shell:
        "python -m sdssflow.sky.steps.mega_file --tables {input.tables} {params.cuts}"
        " {params.line_list} --out-all {output.all} --out-good {output.good}"
        " --out-removed {output.removed} --version-name {wildcards.version} > {log} 2>&1"


rule mean_mega_file:
    input:
        tables=get_sky_tables("meanlines"),
    output:
        all="results/{version}/sky/mean_sky_meta_all.fits",
        good="results/{version}/sky/mean_sky_meta_good.fits",
        removed="results/{version}/sky/mean_sky_meta_removed.fits",
    log:
        "logs/{version}/mean_mega_file/mean_mega_file.log",
    benchmark:
        "benchmarks/{version}/mean_mega_file/mean_mega_file.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
    params:
        code=CODE_VERSION,
        cuts=get_sky_mega_args(),
        line_list=f"--line-list {SKY['line_list']}" if SKY["line_list"] else "",
    shell:
        "python -m sdssflow.sky.steps.mean_mega_file --tables {input.tables} {params.cuts}"
        " {params.line_list} --out-all {output.all} --out-good {output.good}"
        " --out-removed {output.removed} --version-name {wildcards.version} > {log} 2>&1"


# reuse: {sky_plate | mega_file | mean_mega_file: <old version>} links those products instead
# (REUSE_PATTERNS); reuse: {sky_flux: <old version>} is done inside sky_plate (--reused-skyflux).
ruleorder: link_reused > sky_plate
ruleorder: link_reused > mega_file
ruleorder: link_reused > mean_mega_file
