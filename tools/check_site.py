"""Open every page of the built book in headless Chromium and check it as a reader would.

Serves the site on 127.0.0.1, drives Chromium through the Chrome DevTools Protocol
(websocket-client, no browser download) and, for each page:

- no console errors, no uncaught exceptions, no failed loads;
- no request leaves localhost (the site must work offline, CDNs included);
- every <img> has loaded, and notebook pages show at least as many images as the
  notebook has image outputs;
- pages whose notebook saved ipywidgets state show rendered widgets (sliders where the
  state has sliders), never the "kernel required" placeholder;
- audio players where the notebook has IPython.display.Audio outputs;
- LaTeX is typeset by MathJax where the page has math;
- no raw Markdown table text (a paragraph or output of `| a | b |` lines, or a `|---|` rule):
  a table that the page claims must render as a table;
- no output box or table wider than its column (scrollWidth > clientWidth: a horizontal
  scrollbar hides the numbers that matter), and no output figure shrunk below 70% of its pixel
  width to fit the column (its labels would be unreadable);
- every control in an output (sliders, range inputs, radio and toggle buttons) changes the
  output text beside it when it moves: a widget rendered from saved state without a kernel
  moves its readout and nothing else, so the page would show numbers for other settings.

A viewport screenshot of every page (and one scrolled to its first widget, control or audio
player, after the controls were moved) goes to --screenshots. Exits non-zero if any page fails
or Chromium is missing.

Usage: python tools/check_site.py book/_build/html [--notebooks notebooks] [--screenshots DIR]
"""
from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websocket  # websocket-client

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--disable-extensions", "--disable-default-apps", "--mute-audio",
                  "--hide-scrollbars", "--window-size=1280,900", "--remote-allow-origins=*",
                  "--remote-debugging-port=0"]
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}
SLIDER_MODELS = {"IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "IntRangeSliderModel",
                 "FloatRangeSliderModel", "SelectionSliderModel", "SelectionRangeSliderModel"}

# Measured in the page once it has settled.
PROBE_JS = r"""(() => {
  const imgs = [...document.querySelectorAll('article img, main img, .bd-article img')];
  return {
    images: imgs.length,
    broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 120)),
    widgets: document.querySelectorAll('.jupyter-widgets:not(.jupyter-widgets-view)').length,
    sliders: document.querySelectorAll('.widget-slider, .widget-hslider, .widget-vslider').length,
    widget_views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    placeholders: (document.body.innerText.match(/kernel connection is required|Loading widget/gi) || []).length,
    audio: document.querySelectorAll('audio').length,
    math_sources: document.querySelectorAll('.math, div.math, span.math').length,
    math_typeset: document.querySelectorAll('mjx-container').length,
    title: document.title,
    height: document.documentElement.scrollHeight,
    raw_tables: rawTables(),
    overflows: overflows(),
    shrunk_images: shrunkImages(),
  };
  function article() { return document.querySelector('.bd-article, article, main') || document.body; }
  // Lines of Markdown table syntax that were not rendered as a table (code cell sources left out).
  function rawTables() {
    const row = /^\s*\|([^|\n]*\|){2,}\s*$/m, rule = /\|\s*:?-{3,}:?\s*\|/;
    const blocks = [...article().querySelectorAll('p, li, td, th, pre, .output')]
      .filter(e => !e.closest('.cell_input, .highlight-bash, .highlight-python, .highlight-default'));
    return blocks.filter(e => row.test(e.innerText) || rule.test(e.innerText))
      .map(e => e.innerText.trim().slice(0, 100));
  }
  // Output boxes and tables whose content is wider than the box: the boxes themselves, and every
  // scroll container inside an output or around a table (the theme wraps tables in one).
  function overflows() {
    const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
    const boxes = [...article().querySelectorAll('.cell_output, .cell_output *, table')]
      .concat([...article().querySelectorAll('*')].filter(e => e.querySelector(':scope > table') && scrolls(e)))
      .filter(e => e.matches('.cell_output, pre, .output, table') || scrolls(e));
    return [...new Set(boxes)].filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0)
      .map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')} ${e.scrollWidth} px in ${e.clientWidth} px: `
                + e.innerText.trim().split('\n')[0].slice(0, 70));
  }
  function shrunkImages() {
    return [...article().querySelectorAll('.cell_output img')]
      .filter(i => i.naturalWidth > 0 && i.clientWidth > 0 && i.clientWidth < 0.7 * i.naturalWidth)
      .map(i => `${i.naturalWidth} px shown at ${i.clientWidth} px (${Math.round(100 * i.clientWidth / i.naturalWidth)}%)`);
  }
})()"""

# Every control inside a cell output, and the text of the output around it (readouts, which only
# echo the control's own value, left out). Marks each control with data-check-control=i.
CONTROLS_JS = r"""(() => {
  const sel = '.cell_output input[type=range], .cell_output .noUi-handle, '
            + '.cell_output input[type=radio], .cell_output .widget-toggle-button';
  const controls = [...document.querySelectorAll(sel)].filter(c =>
    !(c.type === 'radio' && c.checked) && !c.classList.contains('mod-active') && !c.disabled);
  // radio and toggle buttons: one per group is enough (the first unselected one)
  const seen = new Set();
  const kept = controls.filter(c => {
    const group = c.type === 'radio' ? 'radio:' + c.name
                : c.classList.contains('widget-toggle-button') ? c.parentElement : c;
    if (seen.has(group)) return false; seen.add(group); return true;
  });
  return kept.map((c, i) => {
    c.setAttribute('data-check-control', i);
    const label = c.getAttribute('aria-label') || c.getAttribute('title') || c.name || c.id
      || (c.closest('.widget-slider, .widget-hslider, label, .widget-toggle-buttons') || c).innerText.split('\n')[0];
    return {index: i, kind: c.type === 'range' ? 'range' : c.type === 'radio' ? 'radio'
            : c.classList.contains('noUi-handle') ? 'noUi' : 'toggle', label: (label || '').slice(0, 40)};
  });
})()"""

OUTPUT_TEXT_JS = r"""((i) => {
  const c = document.querySelector(`[data-check-control="${i}"]`);
  const box = c && (c.closest('.cell_output') || c.parentElement);
  if (!box) return null;
  const copy = box.cloneNode(true);
  copy.querySelectorAll('output, .widget-readout, input, script, style').forEach(e => e.remove());
  return copy.textContent.replace(/\s+/g, ' ').trim();
})"""


@dataclass
class Expect:
    """What a page must show; derived from the notebook it was built from."""
    images: int = 0
    widgets: bool = False
    sliders: bool = False
    audio: int = 0


@dataclass
class PageResult:
    page: str
    probe: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    screenshots: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.problems


def expectations(notebook: Path) -> Expect:
    nb = json.loads(notebook.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    data = [o.get("data", {}) for o in outputs]
    state = nb.get("metadata", {}).get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    has_views = any("application/vnd.jupyter.widget-view+json" in d for d in data)
    return Expect(
        images=sum(any(k.startswith("image/") for k in d) for d in data),
        widgets=bool(state) and has_views,
        sliders=bool(state) and has_views and any(
            m.get("model_name") in SLIDER_MODELS for m in state.values()),
        audio=sum("<audio" in "".join(d.get("text/html", "")) for d in data))


class CDP:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def pump(self, seconds: float) -> None:
        """Collect events for `seconds`."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                break
        self.ws.settimeout(60)

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")


def find_chromium(explicit: str | None) -> str:
    for candidate in [explicit, os.environ.get("CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome"]:
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    sys.exit("check_site: Chromium not found. Install it (Debian: apt-get install -y chromium) "
             "or pass --chromium PATH. The site check cannot pass without a browser.")


def start_chromium(binary: str, profile: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port_file = profile / "DevToolsActivePort"
    for _ in range(300):
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text().split()[0])
        if proc.poll() is not None:
            sys.exit(f"check_site: Chromium exited ({proc.returncode}): "
                     f"{proc.stderr.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    sys.exit("check_site: Chromium did not open its DevTools port within 30 s")


def serve(root: Path) -> http.server.ThreadingHTTPServer:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def event_errors(events: list[dict], origin: str) -> list[str]:
    errors = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            errors.append(f"uncaught: {d.get('exception', {}).get('description') or d.get('text')}"[:300])
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            errors.append(f"console.{p['type']}: {text}"[:300])
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}"[:300])
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            errors.append(f"load failed: {p.get('errorText')}"[:300])
        elif method == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if not url.startswith((origin, "data:", "blob:", "about:")):
                errors.append(f"request leaves the site: {url}"[:300])
    return errors


def settled(probe: dict, expect: Expect) -> bool:
    return ((not expect.widgets or probe["widgets"] > 0)
            and (not expect.sliders or probe["sliders"] > 0)
            and (probe["math_sources"] == 0 or probe["math_typeset"] > 0)
            and not probe["broken_images"])


def check_page(cdp: CDP, url: str, page: str, expect: Expect, shots: Path | None,
               timeout: float) -> PageResult:
    result = PageResult(page)
    cdp.events.clear()
    cdp.call("Page.navigate", url=url)
    deadline = time.monotonic() + timeout
    while not any(e.get("method") == "Page.loadEventFired" for e in cdp.events):
        if time.monotonic() > deadline:
            result.problems.append("page did not finish loading")
            return result
        cdp.pump(0.2)
    while True:                                   # widgets and MathJax render after load
        probe = cdp.evaluate(PROBE_JS)
        if settled(probe, expect) or time.monotonic() > deadline:
            break
        cdp.pump(0.3)
    cdp.pump(0.5)
    probe = cdp.evaluate(PROBE_JS)
    result.probe = probe
    result.errors = event_errors(cdp.events, url.split("/", 3)[0] + "//" + url.split("/")[2])
    if probe["broken_images"]:
        result.problems.append(f"images that did not load: {probe['broken_images']}")
    if probe["images"] < expect.images:
        result.problems.append(f"{probe['images']} images, the notebook has {expect.images} image outputs")
    if expect.widgets and probe["widgets"] == 0:
        result.problems.append("the notebook saved widget state, but no widget rendered")
    if expect.sliders and probe["sliders"] == 0:
        result.problems.append("the notebook saved a slider, but no slider rendered")
    if probe["placeholders"]:
        result.problems.append("a widget placeholder is showing instead of the widget")
    if probe["audio"] < expect.audio:
        result.problems.append(f"{probe['audio']} audio players, the notebook has {expect.audio}")
    if probe["math_sources"] and not probe["math_typeset"]:
        result.problems.append("the page has math, but MathJax typeset nothing")
    for text in probe["raw_tables"]:
        result.problems.append(f"raw Markdown table text instead of a table: {text!r}")
    for box in probe["overflows"]:
        result.problems.append(f"wider than its column (horizontal scrollbar): {box}")
    for image in probe["shrunk_images"]:
        result.problems.append(f"figure shrunk to fit the column, labels unreadable: {image}")
    result.problems += dead_controls(cdp)
    if shots is not None:
        stem = page.replace("/", "__").removesuffix(".html")
        result.screenshots.append(screenshot(cdp, shots / f"{stem}.png"))
        controls = ".cell_output input[type=range]"
        target, kind = ((".widget-slider, .jupyter-widgets:not(.jupyter-widgets-view)", "widget") if expect.widgets
                        else (controls, "controls") if cdp.evaluate(f"!!document.querySelector('{controls}')")
                        else ("audio", "audio") if expect.audio else (None, None))
        if target and cdp.evaluate(f"(() => {{ const e = document.querySelector('{target}'); "
                                   f"if (!e) return false; e.scrollIntoView({{block: 'center'}}); "
                                   f"return true; }})()"):
            cdp.pump(0.4)
            result.screenshots.append(screenshot(cdp, shots / f"{stem}__{kind}.png"))
    return result


def press(cdp: CDP, key: str, code: int) -> None:
    """A real key press on the focused element (what a reader's keyboard does)."""
    for kind in ("keyDown", "keyUp"):
        cdp.call("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                 windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)


def dead_controls(cdp: CDP) -> list[str]:
    """Move every control in the page's outputs once; a control whose move leaves the output text
    beside it unchanged is a problem (the page shows numbers for settings it no longer displays)."""
    problems = []
    for control in cdp.evaluate(CONTROLS_JS) or []:
        i = control["index"]
        before = cdp.evaluate(f"{OUTPUT_TEXT_JS}({i})")
        element = f'document.querySelector(\'[data-check-control="{i}"]\')'
        if control["kind"] in ("range", "noUi"):
            at_max = cdp.evaluate(f"(() => {{ const c = {element}; const v = c.type === 'range' ? c.value "
                                  f": c.getAttribute('aria-valuenow'); const m = c.type === 'range' ? c.max "
                                  f": c.getAttribute('aria-valuemax'); c.focus(); return v !== null && v === m; }})()")
            press(cdp, "ArrowLeft", 37) if at_max else press(cdp, "ArrowRight", 39)
        else:
            cdp.evaluate(f"{element}.click()")
        cdp.pump(0.4)
        after = cdp.evaluate(f"{OUTPUT_TEXT_JS}({i})")
        if before is not None and before == after:
            problems.append(f"moving the {control['kind']} control {control['label']!r} left its output "
                            f"unchanged: {before[:90]!r}")
    return problems


def screenshot(cdp: CDP, path: Path) -> str:
    data = cdp.call("Page.captureScreenshot", format="png")["data"]
    path.write_bytes(base64.b64decode(data))
    return str(path)


def redirect_target(page: Path) -> str | None:
    """The target of a page that is only a meta-refresh redirect (e.g. index.html), else None."""
    match = re.search(r'http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', page.read_text(), re.I)
    return match.group(1) if match else None


def pages_of(site: Path) -> list[str]:
    """Every content page of the site (index, search and redirect pages left out)."""
    pages = []
    for p in sorted(site.rglob("*.html")):
        rel = p.relative_to(site)
        if any(part.startswith("_") for part in rel.parts) or p.name in SKIP_PAGES:
            continue
        target = redirect_target(p)
        if target is None:
            pages.append(rel.as_posix())
        elif not (p.parent / target.split("#")[0]).exists():
            sys.exit(f"check_site: {rel} redirects to {target}, which does not exist")
    return sorted(pages, key=lambda p: (p != "intro.html", p))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built site, e.g. book/_build/html")
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"),
                        help="where the notebooks are (to know what each page must show)")
    parser.add_argument("--screenshots", type=Path, default=None, help="folder for PNG screenshots")
    parser.add_argument("--chromium", default=None, help="browser binary (default: chromium)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per page")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        sys.exit(f"check_site: {args.site}/index.html not found; build the book first (make book)")
    if args.screenshots:
        shutil.rmtree(args.screenshots, ignore_errors=True)
        args.screenshots.mkdir(parents=True)
    pages = pages_of(args.site)
    server = serve(args.site)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    profile = Path(tempfile.mkdtemp(prefix="check-site-profile-"))
    proc, port = start_chromium(find_chromium(args.chromium), profile)
    results = []
    try:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        cdp = CDP(ws_url)
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.call(f"{domain}.enable")
        cdp.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1,
                 mobile=False)
        for page in pages:
            nb = args.notebooks / Path(page).relative_to("notebooks").with_suffix(".ipynb") \
                if page.startswith("notebooks/") else None
            expect = expectations(nb) if nb and nb.exists() else Expect(images=int(page == "intro.html"))
            results.append(check_page(cdp, base + page, page, expect, args.screenshots, args.timeout))
            r = results[-1]
            p = r.probe
            print(f"{'ok  ' if r.ok else 'FAIL'} {page:<40} images {p.get('images', '?'):>3}  "
                  f"widgets {p.get('widgets', '?'):>3}  sliders {p.get('sliders', '?'):>2}  "
                  f"audio {p.get('audio', '?'):>2}  math {p.get('math_typeset', '?'):>3}", flush=True)
            for msg in r.errors + r.problems:
                print(f"       - {msg}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    failed = [r for r in results if not r.ok]
    if args.screenshots:
        (args.screenshots / "report.json").write_text(json.dumps(
            [{"page": r.page, "ok": r.ok, "probe": r.probe, "errors": r.errors,
              "problems": r.problems, "screenshots": r.screenshots} for r in results], indent=2))
        print(f"screenshots and report.json in {args.screenshots}")
    print(f"check_site: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
