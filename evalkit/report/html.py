"""A self-contained HTML page of a report (no scripts, no external assets)."""

from __future__ import annotations

from jinja2 import Environment, select_autoescape

from .model import Report
from .render import _bound, _fmt

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>evalkit: {{ r.name }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
th{background:#f4f4f4}.PASS{color:#176f2c;font-weight:600}.FAIL{color:#b00020;font-weight:700}
.INCONCLUSIVE{color:#8a6d00}.ERROR{color:#b00020}.note{color:#555;font-size:.9em}
</style></head><body>
<h1>evalkit report: {{ r.name }}</h1>
<p class="note">spec {{ r.spec_path or "(in memory)" }} &middot; sha256 {{ r.spec_sha256[:12] }} &middot; seed {{ r.seed }}
&middot; device {{ r.environment.device }} &middot; evalkit {{ r.environment.evalkit }}, torch {{ r.environment.torch }}
{% if r.reference %}&middot; reference {{ r.reference.source }} ({{ r.reference.n }} images, features {{ r.reference.features }}){% endif %}</p>
{% for s in r.subjects %}
<h2>{{ s.name }}</h2>
<p>status <b>{{ s.status }}</b>; n = {{ s.n }} of {{ s.n_planned }}{% if s.samples_per_second %}; {{ s.samples_per_second }} samples/s{% endif %}
{% if s.stopped_early %}; stopped early (sequential){% endif %}</p>
{% if s.error %}<p class="FAIL">{{ s.error }}</p>{% endif %}
{% if s.requirements %}<table><tr><th>requirement</th><th>verdict</th><th>value</th><th>bound</th><th>interval</th><th>n</th><th>confidence</th><th>note</th></tr>
{% for q in s.requirements %}<tr><td>{{ q.name }}</td><td class="{{ q.verdict }}">{{ q.verdict }}</td>
<td>{% if q.kind == "rate" %}{{ q.passed }}/{{ q.n }} = {{ fmt(q.value) }}{% else %}{{ fmt(q.value) }}{% endif %}</td>
<td>{{ bound(q) }}</td><td>[{{ fmt(q.lower) }}, {{ fmt(q.upper) }}]</td><td>{{ q.n }}</td><td>{{ "%.4g"|format(q.confidence) }}</td>
<td class="note">{{ q.message or "" }}{% if q.correction %} {{ q.correction }}{% endif %}</td></tr>{% endfor %}
</table>{% endif %}
{% if s.metrics %}<table><tr><th>metric</th><th>value</th><th>interval</th><th>n</th><th>method</th></tr>
{% for m in s.metrics %}<tr><td>{{ m.name }}</td><td>{{ fmt(m.value) }}</td><td>[{{ fmt(m.lower) }}, {{ fmt(m.upper) }}]</td><td>{{ m.n }}</td><td class="note">{{ m.method }}</td></tr>{% endfor %}
</table>{% endif %}
{% if s.regressions %}<p class="FAIL">Regressed against the baseline: {{ s.regressions|join(", ") }}</p>{% endif %}
{% endfor %}
</body></html>
"""


def to_html(report: Report) -> str:
    env = Environment(autoescape=select_autoescape(default=True))
    return env.from_string(_TEMPLATE).render(r=report, fmt=_fmt, bound=_bound)
