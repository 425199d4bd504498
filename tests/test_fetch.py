"""`fetch` against a local HTTP server (127.0.0.1 only): success, resume, safety, corruption, offline."""
from __future__ import annotations

import importlib
import io
import json
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from audiomnist_core import data
from audiomnist_core.cli import main
from audiomnist_core.config import load_profile
from audiomnist_core.data import CorpusError, CorpusUnavailable, ensure_audiomnist, fetch, verify
from audiomnist_core.data.fetch import DEFAULT_URL, PINNED_COMMIT, STAMP
from audiomnist_core.runs import resolve_data

FETCH = importlib.import_module("audiomnist_core.data.fetch")  # the module; `data.fetch` is the function

TOP = f"AudioMNIST-{PINNED_COMMIT}"


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.payload``; honours Range when ``server.ranges``; ``server.cuts`` lists, per
    request, how many body bytes to send before dropping the connection (None: all of them)."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        data, srv = self.server.payload, self.server
        srv.seen.append(self.headers.get("Range"))
        start = 0
        if srv.ranges and self.headers.get("Range"):
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.cuts.pop(0) if srv.cuts else None
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.payload, srv.ranges, srv.cuts, srv.seen = b"", True, [], []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/soerenab/AudioMNIST/tar.gz/{PINNED_COMMIT}"
    yield srv
    srv.shutdown()
    srv.server_close()


def archive_of(corpus: Path, *extra: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    """A .tar.gz laid out as GitHub's: ``AudioMNIST-<commit>/data/...`` plus a README and ``extra`` members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        readme = b"AudioMNIST\n"
        info = tarfile.TarInfo(f"{TOP}/README.md")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
        tar.add(corpus / "data", arcname=f"{TOP}/data")
        for info, content in extra:
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return buf.getvalue()


@pytest.fixture
def corpus(tmp_path_factory, make_noise_corpus) -> Path:
    return make_noise_corpus(tmp_path_factory.mktemp("src") / "c", speakers=(1, 12, 26), reps=2)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOMNIST_DATA_DIR", str(tmp_path / "datadir"))
    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("AUDIOMNIST_URL", raising=False)
    return tmp_path


def leftovers(root: Path) -> list[str]:
    """Everything beside ``root`` except ``root`` itself (parts, archives, temporary folders)."""
    return sorted(p.name for p in root.parent.iterdir() if p != root)


def same_files(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*.wav"))
    return files == sorted(p.relative_to(b) for p in b.rglob("*.wav")) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files
    )


def test_pinned_url_names_the_commit():
    assert len(PINNED_COMMIT) == 40 and int(PINNED_COMMIT, 16) >= 0
    assert DEFAULT_URL == f"https://codeload.github.com/soerenab/AudioMNIST/tar.gz/{PINNED_COMMIT}"


def test_fetch_extracts_verifies_and_stamps(server, corpus, env):
    server.payload = archive_of(corpus)
    root = env / "out" / "audiomnist"
    folder = fetch(root, server.url, progress=False)
    assert folder == root / "data"
    assert same_files(corpus / "data", folder)
    assert not (root / "README.md").exists()  # only data/ is kept
    assert verify(root, progress=False).ok
    stamp = json.loads((root / STAMP).read_text())
    assert (stamp["source"], stamp["speakers"], stamp["files"]) == (server.url, 3, 60)
    assert stamp["archive_bytes"] == len(server.payload)
    assert leftovers(root) == []  # the archive and the temporary folder are gone

    assert fetch(root, server.url, progress=False) == folder  # already there: no request
    assert ensure_audiomnist(root, server.url, progress=False) == folder
    assert len(server.seen) == 1


def test_url_from_environment_and_default_root(server, corpus, env, monkeypatch):
    server.payload = archive_of(corpus)
    monkeypatch.setenv("AUDIOMNIST_URL", server.url)
    assert fetch(progress=False) == env / "datadir" / "audiomnist" / "data"


def test_interrupted_download_resumes_where_it_stopped(server, corpus, env):
    server.payload = archive_of(corpus)
    half = len(server.payload) // 2
    server.cuts = [half]
    root = env / "audiomnist"
    with pytest.raises(CorpusError, match="interrupted.*run the command again to resume") as e:
        fetch(root, server.url, progress=False, retries=0)
    assert "\n" not in str(e.value)
    # nothing looks complete: no corpus, no stamp, only the partial download
    assert not root.exists()
    (part,) = root.parent.glob(".audiomnist-*.tar.gz.part")
    assert part.stat().st_size == half and str(part) in str(e.value)

    fetch(root, server.url, progress=False)
    assert server.seen == [None, f"bytes={half}-"]
    assert same_files(corpus / "data", root / "data") and leftovers(root) == []


def test_resume_within_one_call(server, corpus, env):
    server.payload = archive_of(corpus)
    third = len(server.payload) // 3
    server.cuts = [third, third]
    root = env / "audiomnist"
    fetch(root, server.url, progress=False, retries=2)
    assert server.seen == [None, f"bytes={third}-", f"bytes={2 * third}-"]
    assert same_files(corpus / "data", root / "data")


def test_server_that_ignores_range_restarts(server, corpus, env):
    server.payload, server.ranges, server.cuts = archive_of(corpus), False, [1000]
    root = env / "audiomnist"
    with pytest.raises(CorpusError, match="interrupted"):
        fetch(root, server.url, progress=False, retries=0)
    fetch(root, server.url, progress=False)
    assert server.seen == [None, "bytes=1000-"]  # asked to resume, got the whole file: started over
    assert same_files(corpus / "data", root / "data")


def test_complete_part_is_not_downloaded_again(server, corpus, env):
    """Interrupted after the last byte arrived: the server answers 416 and the part is used."""
    server.payload = archive_of(corpus)
    root = env / "audiomnist"
    server.cuts = [len(server.payload) - 1]
    with pytest.raises(CorpusError):
        fetch(root, server.url, progress=False, retries=0)
    (part,) = root.parent.glob("*.part")
    part.write_bytes(server.payload)
    fetch(root, server.url, progress=False)
    assert server.seen[-1] == f"bytes={len(server.payload)}-"
    assert same_files(corpus / "data", root / "data")


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    content = b"owned\n" if kind == tarfile.REGTYPE else None
    info.size = len(content) if content else 0
    return info, content


@pytest.mark.parametrize(
    "member",
    [
        _member("../escaped.txt"),
        _member(f"{TOP}/data/../../escaped.txt"),
        _member("/tmp/escaped-audiomnist-test.txt"),
        _member(f"{TOP}/data/01/link", tarfile.SYMTYPE, "../../../../escaped.txt"),
        _member(f"{TOP}/data/01/abs", tarfile.SYMTYPE, "/etc/passwd"),
        _member(f"{TOP}/data/01/hard", tarfile.LNKTYPE, "../escaped.txt"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-absolute", "hardlink-out"],
)
def test_member_escaping_the_target_rejects_the_archive(member, server, corpus, env):
    server.payload = archive_of(corpus, member)
    root = env / "deep" / "audiomnist"
    with pytest.raises(CorpusError, match="outside the target folder") as e:
        fetch(root, server.url, progress=False)
    assert repr(member[0].name) in str(e.value)
    assert not root.exists() and not list(env.rglob("escaped*"))
    assert not Path("/tmp/escaped-audiomnist-test.txt").exists()
    assert not list(root.parent.glob(".*.partial"))


def test_links_inside_are_skipped(server, corpus, env):
    server.payload = archive_of(corpus, _member(f"{TOP}/data/01/alias.wav", tarfile.SYMTYPE, "0_01_0.wav"))
    root = env / "audiomnist"
    fetch(root, server.url, progress=False)
    assert not (root / "data" / "01" / "alias.wav").exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped"])
def test_corrupt_archive_is_named_and_removed(damage, server, corpus, env):
    good = archive_of(corpus)
    server.payload = {
        "garbage": b"<html>not an archive</html>",
        "truncated": good[: len(good) * 2 // 3],  # served whole: the download itself succeeds
        "flipped": good[:200] + bytes(b ^ 0xFF for b in good[200:400]) + good[400:],
    }[damage]
    root = env / "audiomnist"
    with pytest.raises(CorpusError, match="corrupt or truncated archive") as e:
        fetch(root, server.url, progress=False)
    assert ".tar.gz" in str(e.value) and "\n" not in str(e.value)
    assert not root.exists() and leftovers(root) == []  # archive removed: the next run downloads afresh


def _truncate(corpus: Path) -> None:
    path = corpus / "data" / "12" / "3_12_1.wav"
    path.write_bytes(path.read_bytes()[:300])


def test_archive_failing_verification_installs_nothing(server, corpus, env):
    _truncate(corpus)
    server.payload = archive_of(corpus)
    root = env / "audiomnist"
    with pytest.raises(CorpusError, match=r"fails verification: truncated: .*3_12_1\.wav") as e:
        fetch(root, server.url, progress=False)
    assert not isinstance(e.value, CorpusUnavailable)
    # the message names the archive and where it came from, in one line
    assert ".audiomnist-" in str(e.value) and ".tar.gz (downloaded from " + server.url in str(e.value)
    assert "the archive was removed" in str(e.value) and "\n" not in str(e.value)
    assert not root.exists() and leftovers(root) == []


def test_a_small_corpus_of_its_own_shape_is_fetched(server, corpus, env):
    """Off the pinned URL (a test server, a mirror) the corpus is verified against its own shape."""
    (corpus / "data" / "12" / "3_12_1.wav").unlink()  # ragged repetitions: a note, not a problem
    server.payload = archive_of(corpus)
    assert fetch(env / "audiomnist", server.url, progress=False) == env / "audiomnist" / "data"


def test_audiomnist_is_verified_strictly(server, corpus, env, monkeypatch):
    """The pinned corpus, and a folder adopted as AudioMNIST, are held to AudioMNIST's exact shape."""
    calls = []
    real_verify = FETCH.verify

    def spy(root, **kwargs):
        calls.append(kwargs.get("strict"))
        return real_verify(root, **kwargs)

    monkeypatch.setattr(FETCH, "verify", spy)
    server.payload = archive_of(corpus)
    with pytest.raises(CorpusError, match="expected AudioMNIST's 60 speakers"):
        fetch(env / "a", server.url, progress=False, expect_full=True)
    fetch(env / "b", server.url, progress=False)
    with pytest.raises(CorpusError, match="expected AudioMNIST's 60 speakers"):
        ensure_audiomnist(corpus, server.url, progress=False)
    assert calls == [True, False, True]


def test_small_corpus_is_not_audiomnist_when_full_shape_expected(server, corpus, env):
    server.payload = archive_of(corpus)
    with pytest.raises(CorpusError, match="expected AudioMNIST's 60 speakers x 500 recordings, found 3 speakers"):
        fetch(env / "audiomnist", server.url, progress=False, expect_full=True)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/AudioMNIST.tar.gz"


def test_offline_is_one_line_with_the_synthetic_hint(env, monkeypatch, capsys):
    url = closed_port_url()
    with pytest.raises(CorpusError, match="network is unreachable") as e:
        fetch(env / "audiomnist", url, progress=False)
    assert url in str(e.value) and "--data synthetic" in str(e.value) and "audiomnist data synth" in str(e.value)
    assert "\n" not in str(e.value)
    assert not (env / "audiomnist").exists()

    monkeypatch.setenv("AUDIOMNIST_URL", url)
    with pytest.raises(CorpusError, match="network is unreachable"):
        ensure_audiomnist(env / "audiomnist", progress=False)

    assert main(["data", "fetch", "--root", str(env / "audiomnist"), "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "network is unreachable" in err and "Traceback" not in err


def test_existing_folder_is_never_overwritten(server, corpus, env, make_noise_corpus):
    server.payload = archive_of(corpus)
    root = make_noise_corpus(env / "audiomnist", speakers=(1,), reps=1)
    with pytest.raises(CorpusError, match="not a fetched corpus"):
        fetch(root, server.url, progress=False)
    # ensure_audiomnist verifies a hand-placed corpus and refuses one that is not AudioMNIST
    with pytest.raises(CorpusError, match="expected AudioMNIST's 60 speakers"):
        ensure_audiomnist(root, server.url, progress=False)
    assert server.seen == [] and (root / "data" / "01" / "0_01_0.wav").exists()


class NotFound(Handler):
    def do_GET(self):  # noqa: N802
        self.send_error(404)


def test_http_error_is_named(server, env):
    server.RequestHandlerClass = NotFound
    with pytest.raises(CorpusUnavailable, match="HTTP 404"):
        fetch(env / "audiomnist", server.url, progress=False)
    assert not (env / "audiomnist").exists()


# --- data: auto ----------------------------------------------------------------------------

@pytest.fixture
def auto(env, monkeypatch):
    """``resolve_data("auto", ...)`` with the synthetic corpus stubbed (no espeak-ng): returns
    ``(call, made, log)``; ``made`` lists the synthetic roots it was asked for."""
    made, log = [], []
    monkeypatch.setattr(data, "ensure_synthetic", lambda root, **kw: made.append(root) or root)
    cfg = load_profile("smoke")

    def call():
        return resolve_data("auto", cfg, log=lambda *a, **k: log.append(" ".join(map(str, a))))

    return call, made, log


@pytest.mark.parametrize("damage", ["verification", "corrupt"])
def test_auto_stops_on_a_download_that_fails(damage, auto, server, corpus, env, monkeypatch):
    """A download that arrives but is broken is an error naming the archive, not the synthetic corpus."""
    call, made, log = auto
    if damage == "verification":
        _truncate(corpus)
        server.payload, says = archive_of(corpus), r"\.tar\.gz \(downloaded from .*fails verification: truncated"
    else:
        server.payload, says = b"<html>not an archive</html>", r"\.tar\.gz: corrupt or truncated archive"
    monkeypatch.setenv("AUDIOMNIST_URL", server.url)
    with pytest.raises(CorpusError, match=says):
        call()
    assert made == [] and log == []  # no switch to the synthetic corpus, and no notice of one
    assert not (env / "datadir" / "audiomnist").exists()


def test_auto_stops_on_a_broken_corpus_in_place(auto, env, make_noise_corpus):
    call, made, log = auto
    make_noise_corpus(env / "datadir" / "audiomnist", speakers=(1, 2), reps=1)
    with pytest.raises(CorpusError, match="expected AudioMNIST's 60 speakers"):
        call()
    assert made == [] and log == []


@pytest.mark.parametrize("where", ["closed-port", "http-404"])
def test_auto_falls_back_loudly_only_when_the_corpus_cannot_be_had(where, auto, server, env, monkeypatch):
    call, made, log = auto
    server.RequestHandlerClass = NotFound
    monkeypatch.setenv("AUDIOMNIST_URL", closed_port_url() if where == "closed-port" else server.url)
    label, root = call()
    assert label == "synthetic" and made == [root]
    (notice,) = log
    assert notice.startswith("NOTICE: the real AudioMNIST corpus is not available") and "SYNTHETIC" in notice
