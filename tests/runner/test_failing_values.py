"""A check's failing examples carry the measurements that explain it (what the check reads
beyond the pixels), as a `where:` requirement's carry the measurements its expression reads."""

import evalkit

SPEC = """\
version: 1
name: copies
training: {dataset: fashion-mnist, split: train, range: [0, 2000]}
features: pixels
classifier: null
subjects: [{model: dataset, params: {split: train, range: [0, 2000]}}]
sampling: {n: 60, batch_size: 30}
requirements: [{check: not_memorized, at_least: 0.5}]
"""


def test_training_copies_fail_with_their_nearest_training_distance(tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC)
    rep = evalkit.run(tmp_path / "s.yaml", write=False)
    r = rep.subjects[0].requirements[0]
    assert r.verdict == "FAIL" and r.failing
    # the replay draws the training images themselves: each is at distance 0 from the training set
    for f in r.failing:
        assert set(f.values) == {"nn_distance", "nn_ratio"}
        assert f.values["nn_distance"] == 0.0 and f.values["nn_ratio"] == 0.0
