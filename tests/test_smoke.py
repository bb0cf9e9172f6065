"""Every chapter at the full profile's shapes and code paths (227x227 inputs, the paper's
width) on a handful of batches: ALEXNET_PROFILE=smoke. Outputs are not compared (nbval
does that at the quick profile); every cell must run without error, so whatever only
breaks at full size (what Colab learners get) shows up in CI."""

import time

import nbclient
import pytest
from notebook_checks import NOTEBOOKS, read


@pytest.mark.integration
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_chapter_runs_at_the_smoke_profile(path, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "smoke")
    monkeypatch.setenv("ALEXNET_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    notebook = read(path)
    start = time.perf_counter()
    nbclient.NotebookClient(notebook, kernel_name="alexnet-book", timeout=600,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"{path.name} at the smoke profile: {time.perf_counter() - start:.0f} s")
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert "profile=smoke: images 227x227" in printed  # the kernel really ran the smoke profile
