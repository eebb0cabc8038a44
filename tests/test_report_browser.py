"""The audit report in a real headless browser (Debian's chromium driven by Playwright; no browser download)."""

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.workflow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (`apt-get install chromium`)")]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield launched
        launched.close()


def open_report(browser, report: Path, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, errors


def test_report_renders_every_claim_with_figures(smoke_run, browser):
    from grokrepro.claims.catalog import CLAIMS

    page, errors = open_report(browser, smoke_run / "paper-smoke/report.html", 1280)
    assert errors == []
    implemented = {p.stem for p in (smoke_run / "specs").glob("*.yaml")}
    for claim in CLAIMS:
        section = page.locator(f"section#{claim}")
        assert section.count() == 1
        badge = section.locator(".badge").first.inner_text()
        if claim in implemented:
            assert badge.split(" (")[0] in ("reproduced", "not reproduced", "inconclusive")
            assert section.locator("table.checks tr").count() >= 2  # header + one row per check
            assert "spec sha256" in section.inner_text() and "git commit" in section.inner_text()
        else:
            assert badge == "not implemented"
    sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight, i.complete])")
    assert sizes and all(w > 0 and h > 0 and done for w, h, done in sizes)


def test_report_is_usable_at_phone_width(smoke_run, browser):
    page, errors = open_report(browser, smoke_run / "paper-smoke/report.html", 375)
    assert errors == []
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"page is {overflow}px wider than a phone screen"
    widest_image = page.eval_on_selector_all("img", "imgs => Math.max(...imgs.map(i => i.getBoundingClientRect().width))")
    assert widest_image <= 375
