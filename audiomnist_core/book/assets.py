"""Web assets served from the book: the third-party scripts the pages load, fetched once with
``npm pack`` and vendored into the site, so that pages work offline and need no CDN."""
from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .execute import Log

#: Third-party scripts the pages load: MathJax for math, RequireJS and the ipywidgets HTML
#: manager for saved widget state. Sphinx and myst-nb take them from CDNs by default; the build
#: copies them into the book so that pages work offline and do not depend on a CDN.
#: (npm package, version, folder inside the package, folder under _static/vendor/, files wanted
#: as fnmatch patterns relative to the package folder).
WEB_ASSETS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("requirejs", "2.3.7", "", "requirejs/", ("require.js",)),
    # embed-amd.js is self-contained; the fonts are Font Awesome's, used by widget icons.
    ("@jupyter-widgets/html-manager", "1.0.6", "dist/", "html-manager/",
     ("embed-amd.js", "*.woff", "*.woff2", "*.ttf", "*.eot", "*.svg")),
    # The combined TeX/MathML component, its fonts and what it loads on demand (TeX extensions,
    # the menu, the accessibility extensions); not the speech engine.
    ("mathjax", "3.2.2", "es5/", "mathjax/",
     ("tex-mml-chtml.js", "output/chtml/*", "input/tex/extensions/*", "ui/*", "a11y/*")),
    # ONNX Runtime Web for chapter 07's networks (audiomnist_core.web): the WebAssembly build
    # only (single-threaded SIMD; not WebGPU/WebGL/JSEP), loaded when the reader asks.
    ("onnxruntime-web", "1.30.0", "dist/", "onnxruntime-web/",
     ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")),
)
# Staged static folder whose contents land in _static/ of the HTML (so scripts are _static/vendor/...).
VENDOR_STATIC = "_vendor"
# The widget manager still fetches modules of third-party widget libraries from a CDN.
WIDGETS_CDN = "https://cdn.jsdelivr.net/npm/"


def assets_dir(root: Path) -> Path:
    return root / ".cache" / "web"


def ensure_web_assets(cache: Path, *, log: Log = print, npm: str | None = None) -> Path | None:
    """Unpack :data:`WEB_ASSETS` into ``cache`` (once), fetched with ``npm pack``.

    Returns ``cache``, or None when npm is missing or the registry cannot be reached; the book
    then loads these scripts from their CDNs (and its pages need the network).
    """
    stamp = cache / ".complete"
    wanted = repr(WEB_ASSETS)
    if stamp.is_file() and stamp.read_text() == wanted:
        return cache
    npm = npm or shutil.which("npm")
    if npm is None:
        log("NOTICE: npm not found; the book's pages will load MathJax and the widget manager from CDNs")
        return None
    log(f"fetching web assets with npm pack into {cache}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".web.", dir=cache.parent))  # same disk: the move is atomic
    try:
        for package, version, folder, dest, patterns in WEB_ASSETS:
            proc = subprocess.run(
                [npm, "pack", "--silent", "--pack-destination", str(staging), f"{package}@{version}"],
                capture_output=True, text=True, timeout=600,
            )
            tgz = staging / (proc.stdout.strip().splitlines() or [""])[-1]
            if proc.returncode != 0 or not tgz.is_file():
                reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                log(f"NOTICE: npm pack {package}@{version} failed ({reason}); pages will load the scripts from CDNs")
                return None
            _unpack(tgz, folder, dest, patterns, staging / "out")
            tgz.unlink()
        if cache.exists():
            shutil.rmtree(cache)
        os.replace(staging / "out", cache)
        stamp.write_text(wanted)
        return cache
    except (OSError, subprocess.SubprocessError, tarfile.TarError) as e:
        log(f"NOTICE: web assets not fetched ({type(e).__name__}: {e}); pages will load them from CDNs")
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack(tgz: Path, folder: str, dest: str, patterns: tuple[str, ...], out: Path) -> None:
    """Copy the files of an npm tarball (``package/<folder>...``) that match ``patterns`` to ``out/dest``."""
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            name = member.name.split("/", 1)[-1]
            if not member.isfile() or not name.startswith(folder) or name.endswith(".map"):
                continue
            rel = name[len(folder):]
            if not any(fnmatch.fnmatch(rel, pattern) for pattern in patterns):
                continue
            path = Path(dest, rel)
            if path.is_absolute() or ".." in path.parts:
                raise tarfile.TarError(f"{tgz.name}: unsafe member {member.name}")
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as f_in, open(out / path, "wb") as f_out:
                shutil.copyfileobj(f_in, f_out)


# The widget manager's bundled modules (@jupyter-widgets/base, controls, html-manager/dist/...)
# find their fonts next to their own RequireJS URL, which RequireJS derives from the page's
# folder; this maps every one of them onto the book's copy of the manager.
WIDGETS_REQUIRE_CONFIG = """// Written by audiomnist_core.book: the widget manager's files are in ./html-manager/.
(function () {
  var src = document.currentScript.src;
  var dir = src.slice(0, src.lastIndexOf("/") + 1) + "html-manager";
  require.config({paths: {"@jupyter-widgets/html-manager/dist": dir, "@jupyter-widgets": dir}});
})();
"""


def asset_config(assets: Path | None) -> dict:
    """Sphinx settings that point MathJax and the widget manager at the book's own copies."""
    if assets is None:
        return {}
    return {
        # Not the book's `_static`: Jupyter Book would add every script found there to every page.
        "html_static_path": [VENDOR_STATIC],
        "mathjax_path": "vendor/mathjax/tex-mml-chtml.js",
        "nb_ipywidgets_js": {
            "vendor/requirejs/require.js": {},
            "vendor/widgets-require-config.js": {},
            "vendor/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": WIDGETS_CDN},
        },
    }

