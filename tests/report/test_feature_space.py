"""The feature-space line of report.md and report.html, from report.json's record read as untrusted."""

from evalkit.report.feature_space import feature_space_text


def test_a_recorded_feature_space_reads_as_its_facts():
    ref = {"feature_space": {"name": "inception-fid", "digest": "inception-fid-v1:6726825d0af5", "dim": 2048,
                             "preprocessing": {"size": [299, 299], "resize": "tf-bilinear", "channels": 3,
                                               "value_range": [0, 255], "quantize": "uint8", "normalize": None},
                             "resize": None}}
    text = feature_space_text(ref)
    assert text == ("inception-fid (d = 2048, digest 6726825d0af5); preprocessing: 299x299 by tf-bilinear, "
                    "RGB (grey replicated), values in [0, 255], uint8-quantised")


def test_evalkit_resizing_is_named_and_odd_records_are_left_out():
    ref = {"feature_space": {"name": "fashion-classifier", "digest": "d", "dim": 128, "preprocessing": "junk",
                             "resize": "bicubic"}}
    assert feature_space_text(ref) == ("fashion-classifier (d = 128, digest d); images resized to its input by "
                                       "bicubic (the spec's `resize:`)")
    assert feature_space_text(None) is None
    assert feature_space_text({"feature_space": {"name": 3}}) is None
    assert feature_space_text({"feature_space": ["x"]}) is None
