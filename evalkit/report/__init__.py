"""Reports: the versioned result record and its renderings (JSON, Markdown, JUnit, HTML)."""
