"""Drift between two checkpoints with a 1 GiB variable each stays within a small fixed
working set: the peak RSS of a fresh process grows by less than 256 MiB during the drift.

The checkpoints are real TensorFlow tensor bundles written by TF's own SaveV2 op (what the
TF1 Saver writes), one float32 variable of 1 GiB each, created in a separate process.
"""

import json
import os
import subprocess
import sys

import pytest

LIMIT_MIB = 256
TESTS = os.path.dirname(os.path.abspath(__file__))

_WRITE = """
import sys
sys.path.insert(0, {tests!r})
from makers import drift
print(list(drift.big_bundle_pair({directory!r})))
"""

# Everything but the drift itself (imports, the index, the pairing) happens before the
# baseline, so the delta is the values' working set.
_MEASURE = """
import json, resource, sys
from tensorboard_plugin_ckptdiff import diff, formats
from tensorboard_plugin_ckptdiff.values import drift as value_drift
base, target = (value_drift.Source.of(formats.read(p)) for p in sys.argv[1:3])
report = diff.compare(base.checkpoint, target.checkpoint)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = value_drift.compute(report, base, target)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
(entry,) = result.entries
print(json.dumps({"before_kib": before, "after_kib": after, "l2": entry.l2, "name": entry.name}))
"""


@pytest.fixture(scope="module")
def big_pair(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("big_drift"))
    out = subprocess.run([sys.executable, "-c", _WRITE.format(tests=TESTS, directory=directory)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_drift_of_two_1gib_variables_grows_peak_rss_by_less_than_256mib(big_pair):
    assert all(os.path.getsize(p + ".data-00000-of-00001") == 1 << 30 for p in big_pair)
    out = subprocess.run([sys.executable, "-c", _MEASURE, *big_pair], check=True, capture_output=True, text=True)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert measured["name"] == "big" and measured["l2"] > 0
    grown_mib = (measured["after_kib"] - measured["before_kib"]) / 1024
    assert grown_mib < LIMIT_MIB, f"peak RSS grew by {grown_mib:.0f} MiB"
