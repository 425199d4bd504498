"""The book build (audiomnist_core.book) on a tiny fake book in a temporary folder, the book's
configuration, and the publishing workflow.

Kernel runs (papermill) and Jupyter Book builds take a few seconds each; nothing trains.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from audiomnist_core import book
from audiomnist_core.book import colab
from audiomnist_core.runs import repo_root

ROOT = repo_root()


# --- a tiny book ---------------------------------------------------------------------------------

def chapter(*sources: str, markdown: str = "# A chapter\n\nProfile {glue:text}`profile`.") -> nbformat.NotebookNode:
    """A notebook in the chapters' shape: a parameters cell, a markdown cell, then ``sources``."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_code_cell("PROFILE = None\nDATA = None", metadata={"tags": ["parameters"]}),
        new_markdown_cell(markdown),
        new_code_cell("from myst_nb import glue\nglue('profile', PROFILE, display=False)"),
        *(new_code_cell(s) for s in sources),
    ]
    return nb


@pytest.fixture
def tiny_book(tmp_path) -> Path:
    """The real _config.yml and bibliography, an intro, one chapter, and a TOC entry with no file."""
    root = tmp_path / "tinybook"
    (root / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", root)
    shutil.copy(ROOT / "book" / "references.bib", root / "book")
    shutil.copy(ROOT / "book" / "favicon.svg", root / "book")
    (root / "book" / "intro.md").write_text("# Tiny\n\nA citation {cite:p}`bach2015pixel`.\n\n```{bibliography}\n```\n")
    nbformat.write(chapter("import sys\nprint('computing the thing', file=sys.stderr)\nprint(PROFILE, DATA)"),
                   root / "book" / "01_one.ipynb")
    (root / "_toc.yml").write_text(yaml.safe_dump(
        {"format": "jb-book", "root": "book/intro", "chapters": [{"file": "book/01_one"}, {"file": "book/02_missing"}]}
    ))
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- table of contents ---------------------------------------------------------------------------

def test_toc_docnames_in_reading_order_and_pruning():
    toc = {"format": "jb-book", "root": "a", "parts": [
        {"caption": "P", "chapters": [{"file": "b", "sections": [{"file": "c"}]}, {"file": "d"}]}]}
    assert book.toc.toc_docnames(toc) == ["a", "b", "c", "d"]
    pruned = book.toc.prune_toc(toc, {"a", "b", "d"})
    assert book.toc.toc_docnames(pruned) == ["a", "b", "d"]
    assert pruned["parts"][0]["caption"] == "P"


def test_read_toc_names_the_file(tmp_path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nchapters: []\n")
    with pytest.raises(book.BookError, match=r"_toc.yml: needs a 'root'"):
        book.toc.read_toc(tmp_path)


# --- progress lines ------------------------------------------------------------------------------

def test_progress_lines_label_each_line_and_throttle_redraws():
    now = [100.0]
    lines: list[str] = []
    stream = book.execute.ProgressLines(lines.append, "[1/4] 02_training", every=10.0, clock_fn=lambda: now[0])
    now[0] = 165.0
    stream.write("training alexnet/digits fold 0\nhalf a li")
    stream.write("ne\n")
    for k in range(5):  # a progress bar redrawn five times within a second
        now[0] += 0.1
        stream.write(f"\r{k * 20}%|###")
    now[0] += 20.0
    stream.write("\r100%|#####")
    stream.write("\r")  # the next redraw ends the previous one
    stream.flush()
    assert lines[0] == "  [1/4] 02_training +1:05  training alexnet/digits fold 0"
    assert lines[1].endswith("half a line")
    assert len(lines) == 3 and lines[2].endswith("100%|#####")  # the quick redraws were skipped
    now[0] += 1.0
    stream.write("\rdone 7/7")  # within 10 s of the last line: skipped...
    stream.write("\n")  # ...until the bar ends
    assert lines[3].endswith("done 7/7")


def test_heartbeat_reports_a_silent_kernel():
    lines: list[str] = []
    stream = book.execute.ProgressLines(lines.append, "ch", every=10.0)
    stream.write("loading the corpus\n")
    stream.last_emit -= 120  # as if the kernel had been silent for two minutes
    with stream.heartbeat(every=0.05):
        for _ in range(200):  # the beat thread checks every 0.05 s; give it up to 2 s
            if any("still running" in line for line in lines):
                break
            time.sleep(0.01)
    assert any("still running; last: loading the corpus" in line for line in lines)


# --- parameters ----------------------------------------------------------------------------------

def test_chapter_parameters_pin_the_resolved_run(tmp_path):
    run = SimpleNamespace(profile="smoke", data="synthetic", corpus_root=tmp_path)
    assert book.execute.chapter_parameters(run, "smoke") == {"PROFILE": "smoke", "DATA": "synthetic"}
    assert book.execute.chapter_parameters(run, None) == {"PROFILE": "smoke", "DATA": "synthetic"}
    other = SimpleNamespace(profile="mine", data="corpus", corpus_root=tmp_path / "corpus")
    params = book.execute.chapter_parameters(other, "profiles/mine.yaml")
    assert params["PROFILE"] == str(Path("profiles/mine.yaml").resolve())
    assert params["DATA"] == str((tmp_path / "corpus").resolve())


def fake_build(monkeypatch, tmp_path, speakers, write_metadata):
    """``book.build`` on a fake run whose corpus has metadata and a short file per speaker; what it
    passed to build_book and logged."""
    from corpora import write_roster

    write_roster(tmp_path, speakers)
    opened, built, lines = [], [], []
    run = SimpleNamespace(profile="smoke", data="synthetic", corpus_root=tmp_path, root=tmp_path / "runs" / "smoke-synthetic",
                          label=lambda: "profile 'smoke' on the SYNTHETIC corpus")
    run.path = lambda *parts: run.root.joinpath(*parts)
    monkeypatch.setattr(book, "open_run", lambda p, d, log, fit=None: opened.append((p, d)) or run)
    monkeypatch.setattr(book, "build_book", lambda root, params, tag, log, skipped, output, voice: built.append(
        (root, params, tag, skipped, output)) or tmp_path)
    assert book.build("smoke", "auto", log=lambda *a, **k: lines.append(" ".join(map(str, a))), root=tmp_path) == 0
    return opened, built, lines


def test_build_opens_the_run_once_and_passes_its_parameters(monkeypatch, tmp_path, write_metadata):
    opened, built, lines = fake_build(monkeypatch, tmp_path, [1, 2, 3, 4, 12, 26, 28, 36], write_metadata)
    assert opened == [("smoke", "auto")]
    assert built == [(tmp_path, {"PROFILE": "smoke", "DATA": "synthetic"}, "smoke-synthetic", {}, None)]
    assert any("SYNTHETIC corpus" in line for line in lines)
    assert not any("not run" in line for line in lines)


def test_build_on_one_gender_names_the_skipped_task_once_and_passes_it(monkeypatch, tmp_path, write_metadata):
    _, built, lines = fake_build(monkeypatch, tmp_path, [1, 2, 3, 4, 5], write_metadata)
    skipped = built[0][3]
    assert list(skipped) == ["gender"] and "0 female and 5 male" in skipped["gender"]
    assert [line for line in lines if "not run" in line] == [
        f"NOTICE: the gender task is not run on this corpus ({skipped['gender']}); its sections are left out of the chapters."]


# --- executing chapters --------------------------------------------------------------------------

def test_execute_chapter_injects_parameters_and_leaves_the_source_alone(tiny_book, tmp_path):
    source = tiny_book / "book" / "01_one.ipynb"
    before = digest(source)
    target = tmp_path / "executed" / "book" / "01_one.ipynb"
    lines: list[str] = []
    seconds = book.execute.execute_chapter(source, target, {"PROFILE": "smoke", "DATA": "synthetic"},
                                   log=lines.append, label="[1/1] 01_one")
    assert digest(source) == before
    assert seconds > 0
    nb = nbformat.read(target, as_version=4)
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "smoke synthetic" in outputs
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert any(line.startswith("  [1/1] 01_one +") and "computing the thing" in line for line in lines)


def test_cells_of_a_skipped_task_are_left_out_of_the_executed_chapter(tmp_path):
    nb = chapter("print('digits')", "print('gender')")
    nb.cells[-1].metadata["tags"] = [book.execute.task_tag("gender")]
    nb.cells.append(new_markdown_cell("The gender model's {glue:text}`missing`.", metadata={"tags": [book.execute.task_tag("gender")]}))
    source = tmp_path / "src" / "c.ipynb"
    source.parent.mkdir()
    nbformat.write(nb, source)
    before = digest(source)
    target = tmp_path / "out" / "c.ipynb"
    book.execute.execute_chapter(source, target, {"PROFILE": "smoke", "DATA": "synthetic"}, log=lambda *a, **k: None,
                         drop_tags={book.execute.task_tag("gender")})
    cells = nbformat.read(target, as_version=4).cells
    texts = [c.source for c in cells]
    assert "print('digits')" in texts and "print('gender')" not in texts
    assert not any("gender model" in t for t in texts)
    assert digest(source) == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["c.ipynb"]  # the filtered copy is gone
    book.execute.execute_chapter(source, target, {"PROFILE": "smoke", "DATA": "synthetic"}, log=lambda *a, **k: None)
    assert "print('gender')" in [c.source for c in nbformat.read(target, as_version=4).cells]


def test_a_failing_cell_is_one_line_naming_the_notebook(tmp_path):
    source = tmp_path / "bad.ipynb"
    nbformat.write(chapter("raise ValueError('the corpus has no speaker 99\\nsecond line')"), source)
    target = tmp_path / "out" / "bad.ipynb"
    with pytest.raises(book.BookError) as err:
        book.execute.execute_chapter(source, target, {"PROFILE": "smoke", "DATA": "synthetic"}, log=lambda *a: None)
    message = str(err.value)
    assert "\n" not in message
    assert str(source) in message and "ValueError: the corpus has no speaker 99" in message
    assert str(target) in message and target.is_file()


# --- staging -------------------------------------------------------------------------------------

def test_stage_uses_executed_chapters_prunes_the_toc_and_serves_assets(tiny_book, tmp_path):
    executed = tmp_path / "executed.ipynb"
    nb = chapter()
    nb.cells.insert(1, new_code_cell('PROFILE = "smoke"', metadata={"tags": ["injected-parameters"]}))
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stderr", text="decoding: 3 recordings\n"),
                            nbformat.v4.new_output("execute_result", data={"text/plain": "'executed'"}, execution_count=1)]
    nbformat.write(nb, executed)
    assets = tmp_path / "assets"
    (assets / "mathjax").mkdir(parents=True)
    (assets / "mathjax" / "tex-mml-chtml.js").write_text("// mathjax")
    voice = tmp_path / "web"  # what export-web writes for chapter 07
    voice.mkdir()
    (voice / "voice.json").write_text("{}")
    stage = book.html.stage_book(tiny_book, tmp_path / "stage", ["book/intro", "book/01_one"],
                            {"book/01_one": executed}, assets=assets, voice=voice)

    toc = yaml.safe_load((stage / "_toc.yml").read_text())
    assert book.toc.toc_docnames(toc) == ["book/intro", "book/01_one"]
    staged = nbformat.read(stage / "book" / "01_one.ipynb", as_version=4)
    assert [o["data"]["text/plain"] for o in staged.cells[-1].outputs] == ["'executed'"]  # the log line is not on the page
    assert "remove-cell" in staged.cells[1].metadata["tags"]
    assert (stage / "book" / "intro.md").is_file() and (stage / "book" / "references.bib").is_file()
    config = yaml.safe_load((stage / "_config.yml").read_text())
    assert config["sphinx"]["config"]["mathjax_path"] == "vendor/mathjax/tex-mml-chtml.js"
    assert config["sphinx"]["config"]["bibtex_reference_style"] == "author_year"  # the book's own settings kept
    assert (stage / book.assets.VENDOR_STATIC / "vendor" / "mathjax" / "tex-mml-chtml.js").is_file()
    assert (stage / book.assets.VENDOR_STATIC / "voice" / "voice.json").is_file()  # served as _static/voice/
    assert not (stage / "_static").exists()  # Jupyter Book would add every script there to every page
    # the committed notebook is unchanged and has no outputs
    source = nbformat.read(tiny_book / "book" / "01_one.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in source.cells)


def test_the_page_keeps_what_a_reader_should_see_and_drops_the_log():
    out = nbformat.v4.new_output
    keep = [
        out("display_data", data={"text/markdown": "| a |\n|---|", "text/plain": "<IPython.core.display.Markdown object>"}),
        out("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"}),
        out("display_data", data={"application/papermill.record/text/plain": "''"}, metadata={"scrapbook": {"name": "x"}}),
        out("execute_result", data={"text/plain": "0.95"}, execution_count=3),
        out("display_data", data={"text/html": "<audio controls></audio>"}),
    ]
    drop = [
        out("stream", name="stderr", text="decoding + resampling: 300 recordings of 10 speakers (cached per speaker)\n"),
        out("stream", name="stdout", text="profile 'smoke' on the SYNTHETIC corpus\n"),
        out("display_data", data={"text/markdown": "", "text/plain": "<IPython.core.display.Markdown object>"}),
        out("display_data", data={"text/plain": "<IPython.core.display.Markdown object>"}),
        out("execute_result", data={"text/plain": "<matplotlib.lines.Line2D object at 0x7f3a2c1b2d90>"}, execution_count=4),
        out("display_data", data={"text/plain": "<Figure size 640x480 with 0 Axes>"}),
        out("display_data", data={"text/html": "  "}),
    ]
    assert [book.html.page_output(o) for o in keep] == [True] * len(keep)
    assert [book.html.page_output(o) for o in drop] == [False] * len(drop)


def test_web_assets_unpack_only_the_listed_files(tmp_path, monkeypatch):
    """A stand-in npm that 'packs' local tarballs: the pinned files land under the cache."""
    packages = tmp_path / "packages"
    packages.mkdir()
    files = {"requirejs": ["package/require.js", "package/bin/r.js"],
             "@jupyter-widgets/html-manager": ["package/dist/embed-amd.js", "package/dist/embed.js",
                                               "package/dist/a.woff2", "package/dist/embed-amd.js.map"],
             "mathjax": ["package/es5/tex-mml-chtml.js", "package/es5/output/chtml/fonts/woff-v2/x.woff",
                         "package/es5/sre/mathmaps/en.json"],
             "onnxruntime-web": ["package/dist/ort.wasm.min.js", "package/dist/ort-wasm-simd-threaded.wasm",
                                 "package/dist/ort-wasm-simd-threaded.mjs", "package/dist/ort.webgpu.min.js"]}
    for name, members in files.items():
        with tarfile.open(packages / f"{name.replace('/', '_')}.tgz", "w:gz") as tar:
            for member in members:
                src = tmp_path / "content"
                src.write_text(member)
                tar.add(src, arcname=member)
    npm = tmp_path / "npm"
    npm.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys\n"
        "dest, spec = sys.argv[sys.argv.index('--pack-destination') + 1], sys.argv[-1]\n"
        "name = spec.rsplit('@', 1)[0].replace('/', '_')\n"
        f"shutil.copy('{packages}/' + name + '.tgz', dest)\n"
        "print(name + '.tgz')\n"
    )
    npm.chmod(0o755)
    cache = tmp_path / "cache" / "web"
    assert book.assets.ensure_web_assets(cache, log=lambda *a: None, npm=str(npm)) == cache
    got = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())
    assert got == [".complete", "html-manager/a.woff2", "html-manager/embed-amd.js",
                   "mathjax/output/chtml/fonts/woff-v2/x.woff", "mathjax/tex-mml-chtml.js",
                   "onnxruntime-web/ort-wasm-simd-threaded.mjs", "onnxruntime-web/ort-wasm-simd-threaded.wasm",
                   "onnxruntime-web/ort.wasm.min.js", "requirejs/require.js"]
    # The second time nothing is fetched.
    assert book.assets.ensure_web_assets(cache, log=lambda *a: None, npm="/nonexistent/npm") == cache


def test_without_npm_the_book_falls_back_to_cdns(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    lines: list[str] = []
    assert book.assets.ensure_web_assets(tmp_path / "web", log=lines.append) is None
    assert "npm not found" in lines[0]
    assert book.assets.asset_config(None) == {}


# --- the HTML build ------------------------------------------------------------------------------

def test_first_problem_picks_the_cause():
    log = "reading sources\n/x/book/a.md:3: WARNING: citation not found: nope [bibtex.key_not_found]\nRuntimeError: \nLook above"
    assert book.html.first_problem(log) == "/x/book/a.md:3: WARNING: citation not found: nope [bibtex.key_not_found]"
    log = "Traceback\nsphinx.errors.SphinxWarning: unsupported theme option 'x' given\nRuntimeError: box"
    assert book.html.first_problem(log) == "sphinx.errors.SphinxWarning: unsupported theme option 'x' given"
    assert book.html.first_problem("build succeeded.\nThe HTML pages are in _build/html.") is None


def test_tiny_book_builds_strictly_with_launch_buttons(tiny_book):
    lines: list[str] = []
    html = book.build_book(tiny_book, {"PROFILE": "smoke", "DATA": "synthetic"}, "smoke-synthetic",
                           log=lambda *a, **k: lines.append(" ".join(map(str, a))), fetch_assets=False)
    assert html == tiny_book / "_build" / "html"
    page = (html / "book" / "01_one.html").read_text()
    assert "colab.research.google.com/github/audiomnist-book/audiomnist-book/blob/main/book/01_one.ipynb" in page
    assert re.search(r'class="pasted-text">smoke<', page)  # the glued parameter
    assert page.count("const THEBE_JS_URL") == 1  # our extension removed Sphinx 7.4's second copy
    assert any("book/02_missing" in line and "left out" in line for line in lines)
    assert any(line.startswith("[1/1] 01_one: done in") for line in lines)
    assert (tiny_book / "_build" / "executed" / "smoke-synthetic" / "book" / "01_one.ipynb").is_file()
    assert not list((tiny_book / "book").glob("*.html"))  # nothing written into the source tree


def test_a_missing_citation_fails_the_build_with_the_source_file(tiny_book):
    (tiny_book / "book" / "intro.md").write_text("# Tiny\n\nA citation {cite:p}`nobody2099`.\n\n```{bibliography}\n```\n")
    with pytest.raises(book.BookError) as err:
        book.build_book(tiny_book, {"PROFILE": "smoke", "DATA": "synthetic"}, "t", log=lambda *a, **k: None,
                        fetch_assets=False)
    message = str(err.value)
    assert "\n" not in message and "nobody2099" in message
    assert str(tiny_book / "book" / "intro.md") in message  # the file a reader edits, not the staged copy


def test_page_weights_count_embedded_audio(tmp_path):
    import base64

    clip = base64.b64encode(b"RIFF" + bytes(996)).decode()
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.html").write_text(f'<audio><source src="data:audio/wav;base64,{clip}" type="audio/wav"></audio>' * 3)
    (tmp_path / "search.html").write_text("search")
    weights = book.weights.page_weights(tmp_path)
    assert list(weights) == ["book/a.html"]
    assert weights["book/a.html"]["audio_bytes"] == 3000 and weights["book/a.html"]["audio_clips"] == 3


# --- the book's configuration ----------------------------------------------------------------------

def test_config_and_toc_of_the_book():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"] == {"url": "https://github.com/audiomnist-book/audiomnist-book",
                                    "branch": "main", "path_to_book": ""}
    for bib in config["bibtex_bibfiles"]:
        assert (ROOT / bib).is_file()
    assert "audiomnist_core.book" in config["sphinx"]["extra_extensions"]
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert book.toc.toc_docnames(toc) == ["book/intro", "book/01_dataset", "book/02_training", "book/03_relevance",
                                      "book/04_manipulations", "book/05_beyond", "book/06_benchmark",
                                      "book/07_voice", "book/reproduction-notes"]


def test_each_chapter_opens_with_its_title_then_a_hidden_install_cell_for_the_configured_repository():
    url, branch = colab.repository(ROOT)
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    listed = book.toc.toc_docnames(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    assert chapters and {f"book/{p.stem}" for p in chapters} <= set(listed)  # every chapter is in the book
    for path in chapters:
        cells = nbformat.read(path, as_version=4).cells
        assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), f"{path.name}: no title first"
        first = next(c for c in cells if c.cell_type == "code")
        assert "remove-cell" in first.metadata.get("tags", []), path.name
        setup = [c for c in cells if c.cell_type == "code"][1:3]  # parameters and imports: collapsed
        assert "parameters" in setup[0].metadata.get("tags", [])
        assert all("hide-input" in c.metadata.get("tags", []) for c in setup), path.name
        assert first.source == colab.install_cell(url, branch), f"{path.name}: install cell does not clone {url}"
        assert "torch" not in first.source.split('"install"', 1)[1], f"{path.name}: reinstalls torch"


def test_every_citation_in_the_book_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(), re.M))
    cited = set()
    for page in sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "book").glob("*.ipynb")):
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", page.read_text()):
            cited.update(k.strip() for k in group.split(","))
    assert cited, "the book cites nothing"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


# --- the publishing workflow ----------------------------------------------------------------------

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def test_workflow_passes_the_github_workflow_schema():
    exe = Path(sys.executable).with_name("check-jsonschema")
    assert exe.is_file(), "check-jsonschema is missing; install the test extra: pip install -e '.[test]'"
    proc = subprocess.run([str(exe), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_builds_the_book_and_deploys_it_to_pages():
    flow = yaml.safe_load(WORKFLOW.read_text())
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as true
    assert "push" in triggers and "workflow_dispatch" in triggers
    assert flow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = flow["jobs"]["build"], flow["jobs"]["deploy"]
    runs = [s.get("run", "") for s in build["steps"]]
    uses = {s.get("uses", "").split("@")[0]: s for s in build["steps"] if "uses" in s}
    assert any("make book" in r for r in runs)
    assert build["env"]["PROFILE"].endswith("'quick' }}")  # the quick profile on the runner's CPU by default
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert "actions/cache" in uses and any("gh release download" in r for r in runs)
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")


def test_chapter_kernels_draw_no_progress_bars_into_the_pages(monkeypatch):
    import os

    from audiomnist_core.runs import progress_bars

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("AUDIOMNIST_PROGRESS", raising=False)
    assert progress_bars()
    with book.execute.kernel_environment():
        assert not progress_bars() and "MPLBACKEND" not in os.environ
    assert progress_bars() and os.environ["MPLBACKEND"] == "Agg"


def test_the_live_widget_is_left_out_of_the_build_and_kept_for_a_live_kernel(monkeypatch, tmp_path):
    cells = nbformat.read(ROOT / "book" / "04_manipulations.ipynb", as_version=4).cells
    widget = [c for c in cells if c.cell_type == "code" and "audio_widget(" in c.source]
    assert widget and all(book.execute.LIVE_ONLY in c.metadata.get("tags", []) for c in widget)
    seen = {}
    monkeypatch.setattr(book, "execute_chapters", lambda chapters, out, params, log, drop_tags: seen.update(drop=drop_tags) or {})
    monkeypatch.setattr(book, "stage_book", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop")))
    with pytest.raises(RuntimeError, match="stop"):
        book.build_book(ROOT, {}, "t", log=print, skipped={}, output=tmp_path, fetch_assets=False)
    assert seen["drop"] == {book.execute.LIVE_ONLY}
