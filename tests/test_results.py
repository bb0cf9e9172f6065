import json
import socketserver
import threading
import time

import pytest

from alexnet_book import results

REPO = "https://github.com/alexnet-book/alexnet-from-paper-to-practice"


def test_reads_the_checkouts_results():
    rows = results.stored_results(REPO)
    folder = results.local_results_dir()
    assert folder is not None and rows
    assert {row["file"] for row in rows} == {p.name for p in folder.glob("*.json")}
    assert all("benchmark" in row and "device" in row for row in rows)


def test_without_a_checkout_reads_github_and_fails_clearly_offline(monkeypatch, tmp_path):
    monkeypatch.setattr(results, "local_results_dir", lambda: None)
    listing = [{"name": "a.json", "type": "file", "download_url": "u/a"},
               {"name": "b.jsonl", "type": "file", "download_url": "u/b"},
               {"name": "notes.md", "type": "file", "download_url": "u/n"}]
    pages = {"u/a": b'{"x": 1}', "u/b": b'{"y": 2}\n{"y": 3}\n'}

    def fake_fetch(url, timeout):
        return json.dumps(listing).encode() if "api.github.com" in url else pages[url]

    monkeypatch.setattr(results, "_fetch", fake_fetch)
    assert results.stored_results(REPO) == [{"x": 1, "file": "a.json"}, {"y": 2, "file": "b.jsonl"},
                                           {"y": 3, "file": "b.jsonl"}]

    def offline(url, timeout):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(results, "_fetch", offline)
    with pytest.raises(results.ResultsUnavailableError,
                       match=r"not in a local checkout and .* could not be read \(Network is unreachable\)"):
        results.stored_results(REPO)


# Faults, second round (issue 26): a server that drips bytes cannot hold a chapter.


@pytest.fixture
def dripping_server(monkeypatch):
    """A local HTTP server that answers a byte every 0.5 s (a stalled proxy), and one that
    answers at once (chunked, like GitHub's API): ``(dripping URL, answering URL)``."""
    stop = threading.Event()

    class Dripping(socketserver.StreamRequestHandler):
        def handle(self):
            self.rfile.readline()  # the request line; the rest is ignored
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b" " * 1000
            for byte in answer:
                if stop.wait(0.5):
                    return
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return

    class Answering(socketserver.StreamRequestHandler):
        def handle(self):
            self.rfile.readline()
            body = b'[{"name": "a.json", "type": "file", "download_url": "x"}]'
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                             b"Connection: close\r\n\r\n")
            for part in (body[:10], body[10:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")

    servers = []
    for handler in (Dripping, Answering):
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    stop.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_dripping_server_is_abandoned_after_the_timeout_in_all(monkeypatch, dripping_server):
    dripping, answering = dripping_server
    monkeypatch.setattr(results, "local_results_dir", lambda: None)
    monkeypatch.setattr(results, "GITHUB_API", dripping)
    start = time.monotonic()
    with pytest.raises(results.ResultsUnavailableError,
                       match=rf"{dripping}/repos/.* could not be read \(.* sent no complete "
                             r"answer within 1\.5 s\)") as error:
        results.stored_results(REPO, timeout=1.5)  # before the fix: each byte reset the timeout
    assert time.monotonic() - start < 3.0
    assert isinstance(error.value.__cause__, TimeoutError)
    # A server that answers in time is read whole (chunked, as GitHub's API sends it).
    assert json.loads(results._fetch(answering + "/listing", 2.0)) == [
        {"name": "a.json", "type": "file", "download_url": "x"}]


def test_the_timeout_covers_all_of_githubs_answers_together(monkeypatch):
    monkeypatch.setattr(results, "local_results_dir", lambda: None)
    listing = [{"name": f"{i}.json", "type": "file", "download_url": f"u/{i}"} for i in range(10)]
    asked = []

    def slow_fetch(url, timeout):  # each answer in time, all of them together too slow
        asked.append(timeout)
        time.sleep(0.3)
        return json.dumps(listing).encode() if "api.github.com" in url else b'{"x": 1}'

    monkeypatch.setattr(results, "_fetch", slow_fetch)
    start = time.monotonic()
    with pytest.raises(results.ResultsUnavailableError, match=r"took more than 1 s in all"):
        results.stored_results(REPO, timeout=1.0)
    assert time.monotonic() - start < 1.5
    assert asked[0] <= 1.0 and all(a < b for a, b in zip(asked[1:], asked))  # what is left
