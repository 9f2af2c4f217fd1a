"""A remote logdir's directories rebuilt from one listing by prefix, as the level-by-level walk
would have found them, and the modification time each store reports, in the signature."""

import datetime

from tensorboard_plugin_ckptdiff import storage
from tensorboard_plugin_ckptdiff.logdir import prefix_listing
from tensorboard_plugin_ckptdiff.logdir import walk as discovery


def _st(size, mtime=1.0):
    return storage.Stat(size, mtime, False)


def test_directories_from_keys_are_those_the_walk_finds():
    objects = [("events.out.tfevents.1", _st(10)), ("exp/ckpt/ckpt-1.index", _st(48)),
               ("exp/ckpt/ckpt-1.data-00000-of-00001", _st(8)), ("exp/train/events.out.tfevents.2", _st(5)),
               ("exp/ckpt/ckpt-2_temp/part-00000-of-00001.index", _st(3)),  # a writer's temp directory
               ("exp/ckpt/", _st(0)), ("exp//odd", _st(1))]  # a directory marker, an empty segment
    dirs = {d.rel: d for d in prefix_listing.directories(objects, "s3://b/logs", discovery.is_temp)}
    assert set(dirs) == {"", "exp", "exp/ckpt", "exp/train"}
    assert set(dirs[""].files) == {"events.out.tfevents.1"} and dirs[""].subdirs == [("exp", "s3://b/logs/exp")]
    assert dirs["exp"].files == {} and sorted(n for n, _ in dirs["exp"].subdirs) == ["ckpt", "train"]
    assert set(dirs["exp/ckpt"].files) == {"ckpt-1.index", "ckpt-1.data-00000-of-00001"}
    assert dirs["exp/ckpt"].path == "s3://b/logs/exp/ckpt" and dirs["exp/ckpt"].files["ckpt-1.index"].size == 48


def test_directories_stop_at_the_bound():
    objects = [(f"run{i}/f", _st(1)) for i in range(10)]
    assert len(prefix_listing.directories(objects, "s3://b", discovery.is_temp, max_dirs=4)) == 4


def test_each_store_s_modification_time_is_read():
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3 = storage._stat_of({"size": 7, "LastModified": when, "type": "file"})
    gcs = storage._stat_of({"size": 7, "updated": "2026-01-02T03:04:05Z", "type": "file"})
    other = storage._stat_of({"size": 7, "mtime": when.timestamp()})
    assert s3 == gcs == other == storage.Stat(7, when.timestamp(), False)
    assert storage._stat_of({"size": None, "type": "directory"}) == storage.Stat(0, 0.0, True)
