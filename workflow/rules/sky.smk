# Rules of the sky family (see workflow/rules/common.smk for input functions).
# One job per plate (all its MJDs, exposures and cameras); mega files aggregate all plates.
# BLAS/OpenMP threads equal each rule's threads: Snakemake exports OMP_NUM_THREADS={threads} and
# sdssflow.steps.run_step pins every thread pool to it (one place for all rules).


rule sky_flux:
    input:
        unpack(get_sky_flux_input),
    output:
        skyflux="results/{version}/sky/{plate}/skyflux-{plate}.fits",
    log:
        "logs/{version}/sky_flux/{plate}.log",
    benchmark:
        "benchmarks/{version}/sky_flux/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(30),
    params:
        code=CODE_VERSION,
        args=get_sky_flux_args,
    shell:
        "python -m sdssflow.sky.steps.sky_flux --plate {wildcards.plate} {params.args}"
        " --selection {input.selection} --out {output.skyflux}"
        " --version-name {wildcards.version} > {log} 2>&1"


rule rich_metadata:
    input:
        unpack(get_rich_metadata_input),
    output:
        rich="results/{version}/sky/{plate}/rich-{plate}.fits",
    log:
        "logs/{version}/rich_metadata/{plate}.log",
    benchmark:
        "benchmarks/{version}/rich_metadata/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(20),
    params:
        code=CODE_VERSION,
        tables=get_rich_metadata_args,
    shell:
        "python -m sdssflow.sky.steps.rich_metadata --skyflux {input.skyflux} {params.tables}"
        " --out {output.rich} --version-name {wildcards.version} > {log} 2>&1"


rule line_sum:
    input:
        skyflux="results/{version}/sky/{plate}/skyflux-{plate}.fits",
        rich="results/{version}/sky/{plate}/rich-{plate}.fits",
    output:
        lines="results/{version}/sky/{plate}/lines-{plate}.fits",
    log:
        "logs/{version}/line_sum/{plate}.log",
    benchmark:
        "benchmarks/{version}/line_sum/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(20),
    params:
        code=CODE_VERSION,
        line_list=f"--line-list {SKY['line_list']}" if SKY["line_list"] else "",
        filters=",".join(SKY["filters"]),
    shell:
        "python -m sdssflow.sky.steps.line_sum --skyflux {input.skyflux} --rich {input.rich}"
        " {params.line_list} --filters={params.filters:q} --out {output.lines}"
        " --version-name {wildcards.version} > {log} 2>&1"


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


rule mean_spectra:
    input:
        skyflux="results/{version}/sky/{plate}/skyflux-{plate}.fits",
        rich="results/{version}/sky/{plate}/rich-{plate}.fits",
    output:
        mean="results/{version}/sky/{plate}/mean-{plate}.fits",
    log:
        "logs/{version}/mean_spectra/{plate}.log",
    benchmark:
        "benchmarks/{version}/mean_spectra/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(20),
    params:
        code=CODE_VERSION,
        dloglam=SKY["mean_dloglam"],
    shell:
        "python -m sdssflow.sky.steps.mean_spectra --skyflux {input.skyflux} --rich {input.rich}"
        " --dloglam {params.dloglam} --out {output.mean}"
        " --version-name {wildcards.version} > {log} 2>&1"


rule mean_line_sum:
    input:
        mean="results/{version}/sky/{plate}/mean-{plate}.fits",
    output:
        lines="results/{version}/sky/{plate}/meanlines-{plate}.fits",
    log:
        "logs/{version}/mean_line_sum/{plate}.log",
    benchmark:
        "benchmarks/{version}/mean_line_sum/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(20),
    params:
        code=CODE_VERSION,
        line_list=f"--line-list {SKY['line_list']}" if SKY["line_list"] else "",
        filters=",".join(SKY["filters"]),
    shell:
        "python -m sdssflow.sky.steps.mean_line_sum --mean {input.mean} {params.line_list}"
        " --filters={params.filters:q} --out {output.lines}"
        " --version-name {wildcards.version} > {log} 2>&1"


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


rule continuum_fit:
    input:
        mean="results/{version}/sky/{plate}/mean-{plate}.fits",
    output:
        contfit="results/{version}/sky/{plate}/contfit-{plate}.fits",
    log:
        "logs/{version}/continuum_fit/{plate}.log",
    benchmark:
        "benchmarks/{version}/continuum_fit/{plate}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(30),
    params:
        code=CODE_VERSION,
        airglow=(f"--airglow {SKY['airglow_lines']}" if SKY["airglow_lines"] else ""),
        line_list=f"--line-list {SKY['line_list']}" if SKY["line_list"] else "",
        knots=SKY["continuum"]["knot_spacing"],
        clip=SKY["continuum"]["clip"],
    shell:
        "python -m sdssflow.sky.steps.continuum_fit --mean {input.mean} {params.airglow}"
        " {params.line_list} --knot-spacing {params.knots} --clip {params.clip}"
        " --out {output.contfit} --version-name {wildcards.version} > {log} 2>&1"


# reuse: {<sky step>: <old version>} links that step's products instead (REUSE_PATTERNS).
ruleorder: link_reused > sky_flux
ruleorder: link_reused > rich_metadata
ruleorder: link_reused > line_sum
ruleorder: link_reused > mean_spectra
ruleorder: link_reused > mean_line_sum
ruleorder: link_reused > continuum_fit
ruleorder: link_reused > mega_file
ruleorder: link_reused > mean_mega_file
