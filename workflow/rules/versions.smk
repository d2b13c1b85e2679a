# Versions (MuseRed copy_reduced): a step listed under `reuse:` takes its products
# from an older version. link_reused hard-links them into results/<version>/ instead
# of recomputing; it only matches paths of reused steps (REUSED_PATH_REGEX), and the
# ruleorder makes it win over the step's own rule for those paths.


rule link_reused:
    output:
        linked="results/{version}/{path}",
    log:
        "logs/{version}/link_reused/{path}.log",
    benchmark:
        "benchmarks/{version}/link_reused/{path}.tsv"
    wildcard_constraints:
        path=REUSED_PATH_REGEX,
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(200),
        runtime=grow(5),
    params:
        code=CODE_VERSION,
        # A param, not an input: the older version is taken as it is, never rebuilt.
        source=get_reused_source,
    shell:
        "python -m sdssflow.versions link --source {params.source}"
        " --target {output.linked} > {log} 2>&1"


# Families add the rules of their reusable products here.
ruleorder: link_reused > exposure_catalog
ruleorder: link_reused > bosz_library
