# grokrepro: spec -> data -> training -> curves (netCDF) -> verdict -> figures -> HTML report.
#
#   snakemake -c2 paper/all                                   every claim and the report
#   snakemake -c2 paper/grokking                              one claim
#   snakemake -c2 paper-smoke/all --config scale=smoke        smoke | default | paper: paper-<scale>/ but default
#   snakemake -c2 paper/report.html --config claims=a,b       a report of those claims only


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/train.smk"
include: "rules/metrics.smk"
include: "rules/figures.smk"
include: "rules/report.smk"
