"""The repository the book names, kept in one place (``_config.yml``), ``audiomnist retarget``,
and the Colab install cell run as Colab runs it: a fresh interpreter without the package."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest
import yaml

from audiomnist_core import cli
from audiomnist_core.book import colab
from audiomnist_core.runs import repo_root
from corpora import SAMPLE_DEFAULT, SAMPLE_ENV

ROOT = repo_root()


def code_cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def copy_of_book(tmp_path: Path) -> Path:
    root = tmp_path / "fork"
    (root / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", root)
    for path in colab.chapters(ROOT):
        shutil.copy(path, root / "book")
    return root


def test_every_chapter_installs_the_configured_repository():
    url, branch = colab.repository(ROOT)
    chapters = colab.chapters(ROOT)
    assert len(chapters) >= 6
    for path in chapters:
        assert code_cells(path)[0] == colab.install_cell(url, branch), (
            f"{path.name}: its install cell does not name {url} ({branch}); run `audiomnist retarget`")
    # and nowhere else: no other file of the checkout spells the repository out
    name = url.removeprefix(colab.GITHUB)
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True).stdout.split()
    others = [p for p in tracked if not p.startswith("tests/") and p != "_config.yml" and p not in
              {c.relative_to(ROOT).as_posix() for c in chapters}
              and name in (ROOT / p).read_text(errors="replace")]
    assert others == [], f"{others} name {name}: only _config.yml should"
    assert all((ROOT / c).read_text().count(name) == 1 for c in chapters)


def test_retarget_rewrites_the_config_and_every_install_cell_and_nothing_else(tmp_path):
    root = copy_of_book(tmp_path)
    before = {p.name: code_cells(p) for p in colab.chapters(root)}
    config_before = (root / "_config.yml").read_text()

    changed = colab.retarget(root, "someone/my-fork", "dev")

    assert set(changed) == {root / "_config.yml", *colab.chapters(root)}
    config = yaml.safe_load((root / "_config.yml").read_text())
    assert config["repository"] == {"url": "https://github.com/someone/my-fork", "branch": "dev", "path_to_book": ""}
    # the file's comments and other settings stay as they were
    assert [line for line in config_before.splitlines() if "url:" not in line and "branch:" not in line] == \
        [line for line in (root / "_config.yml").read_text().splitlines() if "url:" not in line and "branch:" not in line]
    for path in colab.chapters(root):
        cells = code_cells(path)
        assert cells[0] == colab.install_cell("https://github.com/someone/my-fork", "dev")
        assert "'https://github.com/someone/my-fork.git', 'dev'" in cells[0]
        assert cells[1:] == before[path.name][1:], f"{path.name}: retarget changed another cell"
    assert colab.retarget(root, "someone/my-fork") == []  # the branch stays; nothing left to change


@pytest.mark.parametrize("name", ["my-fork", "a/b/c", "someone/", "https://github.com/a/b", "a b/c"])
def test_retarget_refuses_what_is_not_owner_slash_name(tmp_path, name, capsys, monkeypatch):
    root = copy_of_book(tmp_path)
    monkeypatch.setattr("audiomnist_core.runs.repo_root", lambda: root)
    assert cli.main(["retarget", name]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not OWNER/NAME" in err[0]
    assert colab.repository(root) == colab.repository(ROOT)


def test_the_install_cell_installs_the_package_as_on_colab(tmp_path):
    """A fresh virtualenv whose only packages are the ones Colab brings (here: our venv's, on its
    path, without audiomnist_core), the install cell pointed at a local bare clone, then the
    chapter's next cells: the package is installed from the clone and the chapter opens its run."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: nothing to clone")
    sample = Path(os.environ.get(SAMPLE_ENV, SAMPLE_DEFAULT))
    if not sample.is_dir():
        pytest.skip(f"the real sample is not at {sample} (set {SAMPLE_ENV})")
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(ROOT), str(bare)], check=True)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    subprocess.run(["git", "-C", str(bare), "branch", "-f", "colab-test", head.stdout.strip()], check=True)

    env_dir = tmp_path / "colab"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "colab-preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co.

    chapter = ROOT / "book" / "02_training.ipynb"
    install, parameters, imports = code_cells(chapter)[:3]
    assert install == colab.install_cell(*colab.repository(ROOT))
    cells = [colab.install_cell(bare.as_uri(), "colab-test"), parameters, imports,
             "import audiomnist_core; print('imported from', audiomnist_core.__file__)"]
    script = tmp_path / "cells.py"
    script.write_text("\n\n".join(cells) + "\n")
    work = tmp_path / "content"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(AUDIOMNIST_PROFILE="smoke", AUDIOMNIST_DATA=str(sample), AUDIOMNIST_RUNS=str(tmp_path / "runs"),
               MPLBACKEND="Agg", PIP_DISABLE_PIP_VERSION_CHECK="1")
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('audiomnist_core'))"],
                           capture_output=True, text=True, cwd=work, env=env)
    assert probe.stdout.strip() == "None", "the fresh interpreter already sees the package"
    proc = subprocess.run([str(python), str(script)], capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"imported from {work / 'audiomnist-book' / 'audiomnist_core'}" in proc.stdout
    assert (work / "audiomnist-book" / "_config.yml").is_file()
