# The demo survey: synthetic SDSS reductions with known truth (input: demo).


rule demo_survey:
    output:
        manifest=str(DEMO.manifest),
    log:
        "logs/demo/demo_survey/demo_survey.log",
    benchmark:
        "benchmarks/demo/demo_survey/demo_survey.tsv"
    localrule: True
    conda:
        "../../envs/sdssflow.yaml"
    threads: 1
    resources:
        mem_mb=grow(3000),
        runtime=grow(30),
    params:
        code=CODE_VERSION,
        settings=json.dumps(config["demo"], sort_keys=True),
    shell:
        "python -m sdssflow.synth.steps.survey --settings {params.settings:q}"
        " --manifest {output.manifest} --version-name demo > {log} 2>&1"
