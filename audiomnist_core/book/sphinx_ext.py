"""The book's Sphinx extension (``sphinx.extra_extensions: [audiomnist_core.book]`` in ``_config.yml``):
pages without the console errors of Sphinx 7.4 and the theme."""
from __future__ import annotations

def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated inline scripts from a page.

    Sphinx 7.4 registers inline scripts (no file) a second time before writing, under the file
    name '' instead of None, so every page would declare them twice; sphinx-thebe's
    ``const THEBE_JS_URL`` then fails with a SyntaxError in the reader's console.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", js) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


# The theme stores the reader's colour mode in localStorage and logs an error on a first visit,
# when there is none; sphinx-book-theme 1.x accepts no default_mode option, so set the theme's own
# default ("auto") before its script runs.
DEFAULT_MODE_JS = 'document.documentElement.dataset.mode = document.documentElement.dataset.mode || "auto";'


def setup(app) -> dict:
    """Sphinx entry point (``sphinx.extra_extensions: [audiomnist_core.book]``)."""
    app.connect("html-page-context", _unique_scripts, priority=900)  # after the themes add theirs
    app.connect("builder-inited", lambda app: app.add_js_file(None, body=DEFAULT_MODE_JS, priority=100))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
