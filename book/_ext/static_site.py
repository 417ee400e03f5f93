"""Sphinx extension for this book: keep every page's scripts clean for a static, offline site.

- Jupyter Book 1 with Sphinx 7 registers some inline scripts twice (sphinx-togglebutton's
  selector, sphinx-thebe's `const THEBE_JS_URL`), and the second `const` is a SyntaxError
  in the browser. Duplicates are dropped.
- The book is static (no live kernel: execute_notebooks is off, no launch buttons), so
  sphinx-thebe's scripts, which would point at a CDN, are dropped too.
- @jupyter-widgets/html-manager typesets widget labels through MathJax 2's API
  (`MathJax.Hub.Queue`), but the book loads MathJax 3, where that call throws. On pages with
  both, a small shim maps the MathJax 2 call onto MathJax 3's `typesetPromise`.
- embed-amd.js loads its icon fonts from beside its requirejs module URL, which is relative to
  the page unless requirejs is told otherwise: point it at _static/html-manager-dist/
  (filled by tools/fetch_web_assets.sh).
"""

MATHJAX2_SHIM = """(function () {
  function queue(job) {
    var mj = window.MathJax, el = job && job[2];
    if (mj && mj.typesetPromise) { mj.typesetPromise(el ? [el] : undefined); }
  }
  window.MathJax = window.MathJax || {};
  window.MathJax.Hub = window.MathJax.Hub || {Queue: queue};
  var startup = window.MathJax.startup = window.MathJax.startup || {};
  var ready = startup.ready;
  startup.ready = function () {
    if (ready) { ready(); } else { window.MathJax.startup.defaultReady(); }
    window.MathJax.Hub = {Queue: queue};
  };
})();"""


def _clean_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        filename = str(script)
        body = getattr(script, "attributes", {}).get("body", "")
        if "thebe" in filename or "THEBE_JS_URL" in body:
            continue
        key = (filename, body)
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    has_mathjax = any("mathjax" in str(s).lower() for s in kept)
    widgets = [i for i, s in enumerate(kept) if "embed-amd" in str(s)]
    if widgets:
        js = type(kept[widgets[0]])
        fonts = context["pathto"]("_static/html-manager-dist", 1)
        inserted = [js("", body='require.config({paths: {"@jupyter-widgets/html-manager/dist": '
                                f'"{fonts}"}}}});')]
        if has_mathjax:
            inserted.append(js("", body=MATHJAX2_SHIM))
        kept[widgets[0]:widgets[0]] = inserted
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _clean_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
