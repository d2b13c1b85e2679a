# sdssflow: SDSS BOSS/APOGEE reductions to science products.
# This file is only a table of contents: configuration and helpers are in
# workflow/rules/common.smk, the rules of each product family in their own file.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/catalog.smk"
include: "workflow/rules/versions.smk"
include: "workflow/rules/bosz.smk"
include: "workflow/rules/fluxcal.smk"
include: "workflow/rules/sky.smk"
include: "workflow/rules/skymodel.smk"
include: "workflow/rules/mwm.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
