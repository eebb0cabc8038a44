localrules:
    publish,
    report,
    not_implemented,


rule publish:
    """paper/<claim>/: the claim's verdict.json and figures, as the audit report reads them."""
    input:
        verdict=f"{RESULTS}/{{claim}}/verdict.json",
        figures=claim_figures,
    output:
        directory("paper/{claim}"),
    shell:
        "mkdir -p {output} && cp {input.verdict} {input.figures} {output}/"


rule report:
    input:
        claims=expand("paper/{claim}", claim=SPECS),
    output:
        html="paper/report.html",
        summary="paper/all",
    log:
        f"{LOGS}/report.log",
    shell:
        "grokrepro report --out {output.html} --summary {output.summary} {input.claims} > {log} 2>&1"


rule not_implemented:
    output:
        "paper/{missing}",
    shell:
        "echo 'grokrepro: claim {wildcards.missing} is not implemented yet (no specs/{wildcards.missing}.yaml)' >&2; exit 1"
