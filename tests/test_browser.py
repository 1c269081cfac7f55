"""The shipped deck's preview in a real browser (headless Chromium): search, night mode,
contrast of every highlighted code token, and no sideways scrolling on a 360 px phone
(also for code in list items, which the shipped deck does not use).

Needs Debian's chromium and chromium-driver (.ci/run installs them). Without them these
tests fail in CI (CI=true) and are skipped elsewhere, saying why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cardsmith.preview import PreviewResult, build_preview

from . import browserhelp
from .browserhelp import chromium, set_viewport, sweep, tokens_of

pytestmark = pytest.mark.browser

CONTENT = Path(__file__).resolve().parent.parent / "content"
MIN_CONTRAST = 4.5  # WCAG AA for normal text
PHONE = 360


def _need_browser() -> None:
    reason = browserhelp.missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> PreviewResult:
    """The preview of the shipped deck, built once for this module."""
    return build_preview([CONTENT], tmp_path_factory.mktemp("site") / "preview")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium as a user runs it: the preview must work from file:// with default settings."""
    _need_browser()
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def inspector(site: PreviewResult) -> Iterator[Any]:
    """Chromium allowed to read file:// frames, to measure many card documents in one go."""
    _need_browser()
    with chromium("--allow-file-access-from-files") as driver:
        driver.get(site.index.resolve().as_uri())
        yield driver


def _names(site: PreviewResult) -> list[str]:
    width = max(4, len(str(len(site.preview.cards))))
    return [str(n + 1).zfill(width) for n in range(len(site.preview.cards))]


def _card_documents(site: PreviewResult, modes: tuple[str, ...]) -> list[str]:
    cards = site.index.parent.resolve() / "cards"
    return [
        (cards / f"{name}-{side}{suffix}.html").as_uri()
        for name in _names(site)
        for side in ("front", "back")
        for suffix in modes
    ]


def _visible_cards(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('li[data-text]'))"
            ".filter(function (li) { return !li.hidden; })"
            ".map(function (li) { return li.textContent; });"
        )
    )


def test_search_box_filters_cards_by_text(browser: Any, site: PreviewResult) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    cards = site.preview.cards
    browser.get(site.index.resolve().as_uri())
    box = browser.find_element(By.ID, "search")
    assert len(_visible_cards(browser)) == len(cards) >= 200  # the whole shipped deck

    box.send_keys("Decorator")  # any case; matches fronts and backs, code included
    expected = [c.question_text for c in cards if "decorator" in c.search_text]
    assert _visible_cards(browser) == expected
    assert 1 < len(expected) < len(cards)
    status = browser.find_element(By.ID, "shown").text
    assert status == f"{len(expected)} of {len(cards)} cards"
    basic = browser.find_element(By.XPATH, "//section[h3[starts-with(., '1. Basic')]]")
    assert not basic.is_displayed()  # no basic card mentions decorators

    box.send_keys(" arguments")  # every word must match
    both = [
        c.question_text for c in cards if {"decorator", "arguments"} <= set(c.search_text.split())
    ]
    assert set(_visible_cards(browser)) >= set(both) and len(_visible_cards(browser)) < len(
        expected
    )

    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    assert len(_visible_cards(browser)) == len(cards)


def _frame_state(driver: Any, frame: Any) -> dict[str, str]:
    driver.switch_to.frame(frame)
    try:
        return dict(
            driver.execute_script(
                "var code = document.querySelector('.highlight');"
                "return {classes: document.body.className,"
                " background: getComputedStyle(document.body).backgroundColor,"
                " code: code ? getComputedStyle(code).backgroundColor : ''};"
            )
        )
    finally:
        driver.switch_to.default_content()


def test_night_switch_applies_ankis_night_classes(browser: Any, site: PreviewResult) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    cards = site.preview.cards
    number = next(n for n, c in enumerate(cards) if "highlight" in c.back and n + 1 < len(cards))
    name, following = _names(site)[number], _names(site)[number + 1]
    page = site.index.parent.resolve() / "cards" / f"{name}.html"
    browser.get(page.as_uri() + "#light")
    frames = browser.find_elements(By.TAG_NAME, "iframe")
    assert len(frames) == 4  # front and back, phone and desktop
    back = _frame_state(browser, frames[1])
    assert back == {
        "classes": "card card1",
        "background": "rgb(255, 255, 255)",
        "code": "rgb(246, 248, 250)",  # a faint grey box on the white card
    }

    browser.find_element(By.ID, "night").click()

    def all_night(driver: Any) -> bool:
        frames = driver.find_elements(By.TAG_NAME, "iframe")
        return all("nightMode" in _frame_state(driver, f)["classes"] for f in frames)

    WebDriverWait(browser, 10).until(all_night)
    frames = browser.find_elements(By.TAG_NAME, "iframe")
    assert [f.get_attribute("src").rsplit("/", 1)[1] for f in frames] == [
        f"{name}-front-night.html",
        f"{name}-back-night.html",
    ] * 2
    back = _frame_state(browser, frames[1])
    assert back["classes"] == "card card1 nightMode night_mode"  # Anki desktop's and AnkiDroid's
    assert back["background"] == "rgb(44, 44, 44)"  # Anki's own night frame, #2c2c2c
    assert back["code"] == "rgb(39, 40, 34)"
    assert browser.find_element(By.ID, "night").get_attribute("aria-pressed") == "true"

    browser.find_element(By.CSS_SELECTOR, "a[rel=next]").click()  # the mode travels along
    WebDriverWait(browser, 10).until(
        lambda d: d.current_url.split("#")[0].endswith(following + ".html")
    )
    WebDriverWait(browser, 10).until(all_night)
    browser.find_element(By.ID, "night").click()
    WebDriverWait(browser, 10).until(lambda d: not all_night(d))
    assert "night" not in browser.find_element(By.TAG_NAME, "html").get_attribute("class")


@pytest.mark.parametrize("mode", ["light", "night"])
def test_every_code_token_has_contrast_of_at_least_4_5(
    inspector: Any, site: PreviewResult, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every card, both sides: each element with text in a code block, against the
    background it is drawn on, measured from the browser's computed styles."""
    urls = _card_documents(site, ("-night",) if mode == "night" else ("",))
    found = sweep(inspector, urls, "tokens")
    tokens = [t for url, page in zip(urls, found, strict=True) for t in tokens_of(url, page)]
    assert len(tokens) > 4000
    worst = min(tokens, key=lambda t: t.ratio)
    with capsys.disabled():
        print(
            f"\n{mode}: {len(tokens)} code tokens, lowest contrast {worst.ratio:.2f} ({worst.cls})"
        )
    failing = sorted((t for t in tokens if t.ratio < MIN_CONTRAST), key=lambda t: t.ratio)
    assert not failing, failing[:10]


def _phone_widths(driver: Any, site: PreviewResult) -> tuple[list[Any], list[Any]]:
    """(cards wider than a 360 px phone, every measurement): both sides of every card, in
    light mode (the night rules change colours, not layout)."""
    urls = _card_documents(site, ("",))
    measured = sweep(driver, urls, "widths", width=PHONE)
    assert {m["viewport"] for m in measured} == {PHONE}
    too_wide = [
        (url, m)
        for url, m in zip(urls, measured, strict=True)
        if m["scrollWidth"] > m["clientWidth"] or m["bodyScrollWidth"] > m["clientWidth"]
    ]
    return too_wide, measured


def test_cards_never_scroll_sideways_on_a_360px_phone(inspector: Any, site: PreviewResult) -> None:
    """Long code lines scroll inside their block; the card itself never does."""
    too_wide, measured = _phone_widths(inspector, site)
    assert not too_wide, too_wide[:5]
    assert sum(m["preScrolling"] for m in measured) > 0  # so the check above means something


# Markdown as people write it, which the shipped deck does not use: code that is a list
# item's first block or follows its text, code in a nested item, a quote, and a table
# followed directly by a heading.
_LONG = "result = compute(" + ", ".join(f"argument_{n}" for n in range(12)) + ")"
LISTS_DECK = f"""# Lists

## How do you install and run it?

1. ```bash
   pip install --upgrade some-package-with-a-long-name && python -m some_package --verbose
   ```
2. Then call it:
   ```python
   {_LONG}
   ```
   - nested:
     ```python
     {_LONG}
     ```

## What does the quote say?

> A quoted line.
>
After the quote.

| column | value |
|---|---|
| a | {_LONG} |
### Next
"""


@pytest.fixture(scope="module")
def lists_site(tmp_path_factory: pytest.TempPathFactory) -> PreviewResult:
    deck = tmp_path_factory.mktemp("lists") / "deck"
    deck.mkdir()
    (deck / "deck.toml").write_text(
        'name = "Lists"\nlevels = ["basic"]\ndefault_level = "basic"\n', encoding="utf-8"
    )
    (deck / "lists.md").write_text(LISTS_DECK, encoding="utf-8")
    return build_preview([deck], deck.parent / "preview")


def test_code_in_list_items_scrolls_inside_its_block_on_a_360px_phone(
    lists_site: PreviewResult,
) -> None:
    _need_browser()
    with chromium("--allow-file-access-from-files") as driver:
        driver.get(lists_site.index.resolve().as_uri())
        too_wide, measured = _phone_widths(driver, lists_site)
    assert not too_wide, too_wide[:5]
    assert sum(m["preScrolling"] for m in measured) >= 3  # the three long code blocks


def test_preview_pages_fit_a_360px_phone_too(browser: Any, site: PreviewResult) -> None:
    """The index, a card page and a card document opened directly, on an emulated phone."""
    root = site.index.parent.resolve()
    number = next(n for n, c in enumerate(site.preview.cards) if "highlight" in c.back)
    pages = [
        root / "index.html",
        root / "cards" / f"{_names(site)[number]}.html",
        root / "cards" / f"{_names(site)[number]}-back.html",
    ]
    set_viewport(browser, PHONE)
    try:
        for page in pages:
            browser.get(page.as_uri())
            width, client = browser.execute_script(
                "var e = document.documentElement; return [e.scrollWidth, e.clientWidth];"
            )
            assert (width, client) == (PHONE, PHONE), page
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
