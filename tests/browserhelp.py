"""Headless Chromium for the preview's end-to-end tests: Debian's chromium and chromedriver.

Selenium drives Debian's own chromedriver, built from the same source package as the
browser, so the two always match and nothing is downloaded at test time.

The README's screenshots come from the real Anki desktop app instead (tests/desktophelp.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("CARDSMITH_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CARDSMITH_CHROMEDRIVER", "/usr/bin/chromedriver"))
# This machine has no network: these flags stop Chromium's own background connections.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} not found (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@contextmanager
def chromium(*extra_flags: str) -> Iterator[Any]:
    """A headless Chromium with a fresh profile, closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="cardsmith-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*CHROMIUM_FLAGS, *extra_flags):
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def set_viewport(driver: Any, width: int, height: int = 800, scale: float = 1) -> None:
    """Emulate a phone-like screen: its layout viewport is `width` CSS pixels wide."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": True},
    )


# --- Measuring card documents -----------------------------------------------------------

MEASURE_JS = r"""
function parse(c) {
  var m = c.match(/rgba?\(([^)]*)\)/);
  if (!m) throw new Error("unexpected colour " + c);
  var p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
}
function over(top, bottom) {
  var a = top[3];
  return [0, 1, 2].map(function (i) { return top[i] * a + bottom[i] * (1 - a); }).concat([1]);
}
// The colour an element's text is drawn on: the nearest backgrounds up the tree, composited.
function background(win, el) {
  var layers = [];
  for (var e = el; e; e = e.parentElement) {
    var c = parse(win.getComputedStyle(e).backgroundColor);
    if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  var bg = [255, 255, 255, 1];
  for (var i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
  return bg;
}
// Every element inside a code block that holds text of its own, with its colours.
function tokens(doc, win) {
  var out = [];
  doc.querySelectorAll(".highlight").forEach(function (block) {
    var all = [block].concat(Array.prototype.slice.call(block.querySelectorAll("*")));
    all.forEach(function (el) {
      var own = Array.prototype.some.call(el.childNodes, function (node) {
        return node.nodeType === 3 && node.textContent.trim() !== "";
      });
      if (!own) return;
      var bg = background(win, el);
      out.push({cls: String(el.className), text: el.textContent.slice(0, 40),
                color: over(parse(win.getComputedStyle(el).color), bg), background: bg});
    });
  });
  return out;
}
function widths(doc, win) {
  var root = doc.documentElement;
  var pres = Array.prototype.slice.call(doc.querySelectorAll("pre"));
  return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
          bodyScrollWidth: doc.body.scrollWidth, viewport: win.innerWidth,
          preScrolling: pres.filter(function (p) { return p.scrollWidth > p.clientWidth; }).length};
}
"""

# Loads the URLs into a few iframes `width` CSS px wide, in turn, and measures each; a single
# WebDriver round trip for hundreds of pages. Reading a file:// frame from a file:// page
# needs Chromium's --allow-file-access-from-files (the inspector browser has it).
SWEEP_JS = (
    MEASURE_JS
    + r"""
var urls = arguments[0], width = arguments[1], what = arguments[2], lanes = arguments[3];
var done = arguments[arguments.length - 1];
var measure = what === "tokens" ? tokens : widths;
var results = new Array(urls.length), started = 0, finished = 0;
function lane() {
  var frame = document.createElement("iframe");
  frame.style.cssText = "position:absolute;left:0;top:0;border:0;height:800px;width:" +
    width + "px";
  document.body.appendChild(frame);
  function next() {
    if (started >= urls.length) {
      frame.remove();
      if (finished === urls.length) done(results);
      return;
    }
    var i = started++;
    frame.onload = function () {
      try { results[i] = measure(frame.contentDocument, frame.contentWindow); }
      catch (e) { results[i] = {error: String(e), url: urls[i]}; }
      finished += 1;
      next();
    };
    frame.src = urls[i];
  }
  next();
}
if (!urls.length) done([]);
for (var n = 0; n < lanes; n++) lane();
"""
)


def sweep(driver: Any, urls: list[str], what: str, width: int = 360, lanes: int = 4) -> list[Any]:
    """Measure each page ("tokens" or "widths") in iframes of the loaded file:// page."""
    driver.set_script_timeout(300)
    results: list[Any] = driver.execute_async_script(SWEEP_JS, urls, width, what, lanes)
    errors = [r for r in results if isinstance(r, dict) and "error" in r]
    assert not errors, errors[:3]
    return results


def luminance(rgb: list[float]) -> float:
    """WCAG relative luminance of an sRGB colour with 0-255 channels."""

    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[float], b: list[float]) -> float:
    """WCAG contrast ratio, from 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@dataclass(frozen=True)
class Token:
    page: str
    cls: str
    text: str
    ratio: float


def tokens_of(page: str, found: list[dict[str, Any]]) -> list[Token]:
    """Measured code tokens with their WCAG contrast."""
    return [Token(page, t["cls"], t["text"], contrast(t["color"], t["background"])) for t in found]


def code_tokens(driver: Any, page: str) -> list[Token]:
    """The code tokens of the page loaded at the top level, with their contrast."""
    return tokens_of(page, driver.execute_script(MEASURE_JS + "return tokens(document, window);"))
