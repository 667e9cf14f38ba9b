"""Reports: the renderings of a report record (Markdown, JUnit, HTML) and their escaping."""
