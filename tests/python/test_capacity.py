"""examples/capacity.py --quick, the smallest setting of the paper's
retrieval experiments: it runs, writes its plot and losses, and shows the
findings in its own measurements (its docstring says which)."""
import json
import os
import subprocess
import sys

import pytest

if os.environ.get("FW_REQUIRE_TORCH") != "1":  # scripts/test.sh: never skipped there
    pytest.importorskip("torch")

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "examples", "capacity.py")


def test_quick_setting_shows_the_findings(tmp_path):
    out = tmp_path / "losses.json"
    subprocess.run([sys.executable, SCRIPT, "--quick", "--out", str(tmp_path / "plot.png"),
                    "--json", str(out)], check=True, timeout=600)
    assert (tmp_path / "plot.png").stat().st_size > 0
    d = json.loads(out.read_text())
    line = {(r["setting"], r["rule"], r["phi"]): r["loss"] for r in d["results"]}
    # setting 1: ELU+1's 4 features hold 2 pairs, not 16
    assert line[1, "sum", "ELU+1"][-1] > line[1, "sum", "ELU+1"][0] + 0.5
    # DPFP-2's 16 features do better than ELU+1's 4 at S = 16
    assert line[1, "sum", "DPFP-2"][-1] < line[1, "sum", "ELU+1"][-1]
    # setting 2: 16 writes to 3 keys; the delta rule keeps the latest values
    assert line[2, "delta", "DPFP-2"][-1] < 0.6 * line[2, "sum", "DPFP-2"][-1]
