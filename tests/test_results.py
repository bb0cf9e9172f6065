import json

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
