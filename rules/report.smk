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
        directory(f"{PAPER}/{{claim}}"),
    shell:
        "mkdir -p {output} && cp {input.verdict} {input.figures} {output}/"


rule report:
    input:
        claims=expand(f"{PAPER}/{{claim}}", claim=SPECS),
    output:
        html=f"{PAPER}/report.html",
        summary=f"{PAPER}/all",
    log:
        f"{LOGS}/report.log",
    shell:
        "grokrepro report --out {output.html} --summary {output.summary} {input.claims} > {log} 2>&1"


rule not_implemented:
    output:
        f"{PAPER}/{{missing}}",
    shell:
        "echo 'grokrepro: claim {wildcards.missing} is not implemented yet (no specs/{wildcards.missing}.yaml)' >&2; exit 1"
