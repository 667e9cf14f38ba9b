"""Open a report.html in headless Chromium and read back what a person would see.

Shared by the browser tests and ``docs/make_screenshot.py`` (the README's screenshot),
so the committed picture comes from the code path the tests check. Uses Playwright's
Python package pointed at the system Chromium (Debian's ``chromium``); it never
downloads a browser.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
WIDTH = 1280

# Runs in the page: every <img> decoded (await img.decode(), then naturalWidth > 0), the
# verdict matrix's cells counted by word, and the page's own width.
_PROBE = """async () => {
  const imgs = Array.from(document.images);
  const decoded = [];
  for (const img of imgs) {
    let ok = true;
    try { await img.decode(); } catch (e) { ok = false; }
    decoded.push({src: img.src.slice(0, 40), ok: ok && img.naturalWidth > 0, width: img.naturalWidth,
                  loading: img.getAttribute('loading')});
  }
  const counts = {};
  for (const td of document.querySelectorAll('#verdict-matrix td[data-verdict]')) {
    const w = td.dataset.verdict; counts[w] = (counts[w] || 0) + 1;
  }
  const words = {};
  for (const td of document.querySelectorAll('#verdict-matrix td[data-verdict] b')) {
    words[td.textContent.trim()] = (words[td.textContent.trim()] || 0) + 1;
  }
  const top = (sel) => { const e = document.querySelector(sel); return e ? e.getBoundingClientRect().top + window.scrollY : null; };
  return {images: decoded, counts: counts, words: words, svgs: document.querySelectorAll('svg').length,
          grid_top: top('table.grid'), gallery_top: top('.gallery'),
          scrollWidth: document.documentElement.scrollWidth, scripts: document.scripts.length,
          title: document.title};
}"""


def chromium_path() -> str | None:
    """The system Chromium, or None when this machine has none."""
    env = os.environ.get("EVALKIT_CHROMIUM")
    for cand in ([env] if env else []) + list(CANDIDATES) + [shutil.which("chromium") or ""]:
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def inspect_report(html: Path, *, screenshot: Path | None = None, javascript: bool = True,
                   full_page: bool = False) -> dict[str, Any]:
    """Load ``html`` at 1280 px wide and return the probe's findings plus console errors.

    With ``javascript=False`` the page runs with scripts disabled; the probe then runs in
    an isolated world (Playwright's evaluate still works), so both modes are measured alike.
    """
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no Chromium on this machine")
    errors: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        try:
            ctx = browser.new_context(viewport={"width": WIDTH, "height": 900}, java_script_enabled=javascript)
            page = ctx.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto(Path(html).resolve().as_uri(), wait_until="load")
            found = page.evaluate(_PROBE) if javascript else _probe_without_scripts(page)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=full_page)
        finally:
            browser.close()
    found["console_errors"] = errors
    found["network"] = requests
    found["dialogs"] = dialogs
    return found


def _probe_without_scripts(page) -> dict[str, Any]:
    """The same findings read through the DOM API (page scripts are off, so evaluate cannot run)."""
    counts: dict[str, int] = {}
    words: dict[str, int] = {}
    for td in page.query_selector_all("#verdict-matrix td[data-verdict]"):
        w = td.get_attribute("data-verdict")
        counts[w] = counts.get(w, 0) + 1
        b = td.query_selector("b")
        text = b.inner_text().strip() if b else ""
        words[text] = words.get(text, 0) + 1
    images = []
    for img in page.query_selector_all("img"):
        box = img.bounding_box()
        images.append({"src": (img.get_attribute("src") or "")[:40], "ok": bool(box and box["width"] > 0),
                       "loading": img.get_attribute("loading")})
    return {"images": images, "counts": counts, "words": words, "svgs": len(page.query_selector_all("svg")),
            "scrollWidth": None, "scripts": len(page.query_selector_all("script")), "title": page.title()}
