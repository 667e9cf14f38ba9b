"""The run history: every finished run indexed in a SQLite database, read back as series.

Layer: above ``report`` and ``compare`` (it renders trend pages and resolves baselines
with them), below ``runner`` (which indexes each run it writes). The report folders
stay the source of truth; the database is an index that can be rebuilt from them.

Modules:

* ``points`` — :class:`Point`, one number of one run (a requirement's rate or a metric's
  value with its interval), and :func:`points_of`, the points of a report. The shared
  vocabulary of the database, the change-point test and the pages.
"""
