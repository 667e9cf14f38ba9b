"""The reference's provenance lines (imported statistics, the feature-space check), from report.json's
record read as untrusted: odd values are left out, never a traceback."""

from evalkit.report.reference import CHECK, reference_notes


def test_imported_statistics_and_a_passed_check_read_as_their_facts():
    ref = {"imported": True, "statistics": "stats.npz", "statistics_sha256": "ab12",
           "claims": "no interval claims on the reference side",
           "features_check": {"status": "pass", "n": 256, "seed": 7, "distances": {"noise": 391.0, "constant": 522.25},
                              "noise_floor": 15.4, "separation_factor": 4, "feature_rms": 0.99}}
    notes = reference_notes(ref)
    assert notes[0] == ("imported statistics", "from stats.npz (sha256 ab12): no interval claims on the reference side")
    assert notes[1] == (CHECK, "PASS: Fréchet distance of 256 degenerate images (seed 7) from the reference: noise 391, "
                               "constant 522.2; noise floor (reference half vs half) 15.4, required x4; feature RMS 0.99")


def test_a_failed_check_lists_its_problems_and_an_off_check_says_so():
    failed = {"features_check": {"status": "fail", "distances": {"noise": "x"}, "problems": ["noise within 2x"],
                                 "warnings": ["3 dead dimensions"]}}
    notes = reference_notes(failed)
    assert notes[0][1].startswith("FAIL: ") and "from the reference: none" in notes[0][1]
    assert notes[1:] == [(CHECK, "problem: noise within 2x"), (CHECK, "warning: 3 dead dimensions")]
    assert "nothing checked" in reference_notes({"features_check": {"status": "off"}})[0][1]
    assert reference_notes(None) == [] and reference_notes({"features_check": "junk"}) == []
