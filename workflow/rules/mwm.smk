# Rules of the mwm family (see workflow/rules/common.smk, section "mwm", for input functions).
#
# DAG shape (scales to 2,500 plates x 2 MJDs and 1e6 sources in 10,000 GG/HH buckets):
#
#   boss_visits (plate-MJD) --> mwm_index (one job) --> mwm_bucket (GG/HH or GG) --> mwm_status
#   apVisit/apStar files ------------^                   nmf_basis (one job) --^
#                                                   apogee_templates (one job) --^
#
# mwm_index is the one aggregation job between the plate-MJD and the bucket jobs: it reads
# only the VISITS tables of the bossVisits files and the APOGEE headers and writes one CSV
# per bucket into a directory output, so the DAG has N_plate-MJD + 2 N_bucket edges instead
# of N_plate-MJD x N_bucket. The bucket list comes from the config at parse time (demo plan,
# spec-file names, or the mwm.sources CSV), never from per-source files. A bucket job
# declares its status table and the directories results/{version}/spectra/{visit,star}/{bucket}
# that hold its mwm{Visit,Star} files (not every source yields a file).


rule boss_visits:
    input:
        unpack(get_boss_visits_input),
    output:
        visits="results/{version}/mwm/boss_visits/{plate}/bossVisits-{plate}-{mjd}.fits",
    log:
        "logs/{version}/boss_visits/{plate}-{mjd}.log",
    benchmark:
        "benchmarks/{version}/boss_visits/{plate}-{mjd}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(3000),
        runtime=grow(60),
    params:
        code=CODE_VERSION,
        args=get_boss_visits_args,
        resolution=MWM["resolution"],
    shell:
        "python -m sdssflow.mwm.steps.boss_visits {params.args} --plate {wildcards.plate}"
        " --mjd {wildcards.mjd} --templates {input.templates}"
        " --resolution {params.resolution} --output {output.visits}"
        " --version-name {wildcards.version} > {log} 2>&1"


# Why a list file between boss_visits and mwm_index: the 10,000 bucket jobs all depend on
# the index, and Snakemake compares a consumed file against every input of its producer
# on each such edge; with the 5,000 visit files as direct inputs of mwm_index that was
# 5e7 comparisons (a third of the dry-run time at survey scale).
rule boss_visits_list:
    input:
        visits=get_boss_visits_files,
    output:
        listing="results/{version}/mwm/boss_visits/boss_visits.txt",
    log:
        "logs/{version}/boss_visits_list/boss_visits_list.log",
    benchmark:
        "benchmarks/{version}/boss_visits_list/boss_visits_list.tsv"
    localrule: True
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(500),
        runtime=grow(5),
    params:
        code=CODE_VERSION,
    shell:
        "python -m sdssflow.mwm.steps.list_files --out {output.listing} {input.visits} > {log} 2>&1"


rule mwm_index:
    input:
        unpack(get_mwm_index_input),
    output:
        index=directory("results/{version}/mwm/index"),
    log:
        "logs/{version}/mwm_index/mwm_index.log",
    benchmark:
        "benchmarks/{version}/mwm_index/mwm_index.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(120),
    params:
        code=CODE_VERSION,
        apogee=get_mwm_index_args,
    shell:
        "python -m sdssflow.mwm.steps.mwm_index --boss-visits-list {input.visits} {params.apogee}"
        " --outdir {output.index} --version-name {wildcards.version} > {log} 2>&1"


rule nmf_basis:
    input:
        unpack(get_mwm_basis_input),
    output:
        basis="results/{version}/mwm/nmf/nmf-basis.fits",
    log:
        "logs/{version}/nmf_basis/nmf_basis.log",
    benchmark:
        "benchmarks/{version}/nmf_basis/nmf_basis.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
    params:
        code=CODE_VERSION,
        source=MWM["nmf_source"],
        templates=lambda wildcards, input: (
            f"--templates {input.templates}" if "templates" in input.keys() else ""
        ),
        n=MWM["n_components"],
    shell:
        "python -m sdssflow.mwm.steps.nmf_basis --source {params.source} {params.templates}"
        " --n-components {params.n} --output {output.basis}"
        " --version-name {wildcards.version} > {log} 2>&1"


# The H-band RV templates of the APOGEE visits, built once from the BOSZ mirror (about 10 s
# of reading and convolving) instead of in every bucket job.
rule apogee_templates:
    input:
        templates=get_apogee_templates_input,
    output:
        templates="results/{version}/mwm/apogee_rv_templates.fits",
    log:
        "logs/{version}/apogee_templates/apogee_templates.log",
    benchmark:
        "benchmarks/{version}/apogee_templates/apogee_templates.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(30),
    params:
        code=CODE_VERSION,
    shell:
        "python -m sdssflow.mwm.steps.apogee_templates --templates {input.templates}"
        " --output {output.templates} --version-name {wildcards.version} > {log} 2>&1"


# One job per bucket does both products (as astra's single task does): mwm_visit then mwm_star
# (sdssflow.mwm.steps.mwm_bucket). mwm.bucket sets the job granularity: gghh = one job per GG/HH
# bucket (10,000 at survey scale), gg = one job per GG (100 jobs of up to 100 HH each), which
# keeps the full-survey DAG within its CPU budget. The mwmVisit/mwmStar files are declared as
# one directory per job (which sources yield a file is known only after the job).
rule mwm_bucket:
    input:
        unpack(get_mwm_visit_templates_input),
        index="results/{version}/mwm/index",
        basis="results/{version}/mwm/nmf/nmf-basis.fits",
    output:
        visit=directory("results/{version}/spectra/visit/{bucket}"),
        star=directory("results/{version}/spectra/star/{bucket}"),
        status="results/{version}/spectra/status/{bucket}/status.fits",
    log:
        "logs/{version}/mwm_bucket/{bucket}.log",
    benchmark:
        "benchmarks/{version}/mwm_bucket/{bucket}.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(MWM["bucket_mem_mb"]),
        runtime=grow(120 if MWM["bucket"] == "gghh" else 240),
    params:
        code=CODE_VERSION,
        skip=(
            "--skip-non-stellar"
            if MWM["skip_non_stellar"]
            else "--no-skip-non-stellar"
        ),
        templates=get_mwm_apogee_templates_arg,
    shell:
        "python -m sdssflow.mwm.steps.mwm_bucket --index-dir {input.index} --bucket {wildcards.bucket}"
        " --basis {input.basis} --visit-dir {output.visit} --star-dir {output.star}"
        " {params.skip} {params.templates} --status {output.status}"
        " --version-name {wildcards.version} > {log} 2>&1"


rule mwm_status:
    input:
        unpack(get_mwm_status_input),
    output:
        status="results/{version}/spectra/mwm_status.fits",
    log:
        "logs/{version}/mwm_status/mwm_status.log",
    benchmark:
        "benchmarks/{version}/mwm_status/mwm_status.tsv"
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(30),
    params:
        code=CODE_VERSION,
    shell:
        "python -m sdssflow.mwm.steps.mwm_status --status {input.status}"
        " --index-dir {input.index} --output {output.status}"
        " --version-name {wildcards.version} > {log} 2>&1"
