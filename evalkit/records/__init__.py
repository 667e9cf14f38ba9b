"""The versioned records a run writes (report.json, the sample store) and their careful readers."""
