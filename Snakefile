# grokrepro: spec -> data -> training -> curves (netCDF) -> verdict -> figures -> HTML report.
#
#   snakemake -c2 paper/all                         every claim and the report
#   snakemake -c2 paper/grokking                    one claim
#   snakemake -c2 paper/all --config scale=smoke    smoke | default | paper


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/train.smk"
include: "rules/metrics.smk"
include: "rules/figures.smk"
include: "rules/report.smk"
