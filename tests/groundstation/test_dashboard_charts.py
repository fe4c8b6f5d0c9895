"""The dashboard's bar charts give every label the room it needs: long Chinese department names
and long English class names are drawn whole (or, past the widest column, shortened with "…"
and shown whole in a tooltip), never cut at the chart's edge."""

from __future__ import annotations

import re
from html import unescape

import pytest
from conftest import JUNE_2024, seed_dashboard, sign_in

from groundstation.blueprints.dashboard import MAX_LABEL_PX, bar_chart, fit_label, text_width

URBAN = "城市管理综合行政执法局"
BACKGROUND = "Background (false positive)"


def label_column(svg: str) -> float:
    """Where the chart's labels end (their right-aligned x)."""
    return float(re.search(r'<text x="([\d.]+)"[^>]*text-anchor="end"', svg).group(1))


def test_wide_characters_count_about_twice_a_latin_one() -> None:
    assert text_width("局") == 12 and text_width("D") < 12
    assert text_width(URBAN) == 11 * 12
    assert text_width("ab局") == pytest.approx(12 + 2 * 0.65 * 12)


@pytest.mark.parametrize("label", [URBAN, BACKGROUND, "D-A"])
def test_the_label_column_fits_the_longest_label(label: str) -> None:
    svg = bar_chart([(label, 3.0), ("短", 1.0)])
    assert label_column(svg) >= text_width(label)
    assert f">{label}</text>" in svg and "<title>" not in svg
    width = int(re.search(r'<svg[^>]*width="(\d+)"', svg).group(1))
    bar = re.search(r'<rect x="([\d.]+)" y="0" width="([\d.]+)"', svg)
    assert float(bar.group(1)) + float(bar.group(2)) + 60 <= width  # the value fits after it


def test_a_label_past_the_widest_column_is_shortened_with_its_whole_text_in_a_tooltip() -> None:
    long = "某某区" + "城市管理综合行政执法局" * 3
    svg = bar_chart([(long, 2.0), ("<b>&", 1.0)])
    assert label_column(svg) <= MAX_LABEL_PX + 6
    shown = re.search(r"<title>(.*?)</title>(.*?)</text>", svg)
    assert unescape(shown.group(1)) == long
    assert shown.group(2).endswith("…") and long.startswith(shown.group(2)[:-1])
    assert text_width(shown.group(2)) <= MAX_LABEL_PX
    assert ">&lt;b&gt;&amp;</text>" in svg  # escaped
    assert fit_label("short", 100) == "short"


@pytest.mark.slow
def test_no_chart_label_is_cut_in_the_browser(live, page) -> None:
    """Every chart text lies inside its SVG, measured by Chromium, in Chinese and English."""
    from groundstation.models import Finding

    env, base = live
    seed_dashboard(env)
    with env.storage().session() as session:  # a background finding: the longest English class
        finding = session.get(Finding, 1)
        finding.reviewed_label = "background"
        session.commit()
    sign_in(page, base, "supervisor")
    for language, needles in (("zh", [URBAN]), ("en", [URBAN, BACKGROUND])):
        page.goto(f"{base}/lang/{language}")
        page.goto(f"{base}/dashboard?{JUNE_2024}")
        texts = page.eval_on_selector_all(
            "svg.chart text",
            """els => els.map(t => {
                const svg = t.ownerSVGElement.getBoundingClientRect();
                const box = t.getBoundingClientRect();
                return {text: t.textContent, left: box.left - svg.left,
                        right: svg.right - box.right};
            })""",
        )
        shown = {t["text"] for t in texts}
        assert set(needles) <= shown, shown
        cut = [t for t in texts if t["left"] < -0.5 or t["right"] < -0.5]
        assert not cut, (language, cut)
