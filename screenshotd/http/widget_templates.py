"""The widgets' templates (Jinja2, autoescaped): the uptime badge and the status page. Plain
SVG and HTML with inline SVG; the status page needs no script."""

from __future__ import annotations

BADGE = """<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="20" role="img" \
aria-label="{{ label }}: {{ value }}"><title>{{ label }}: {{ value }}</title>\
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>\
<stop offset="1" stop-opacity=".1"/></linearGradient>\
<clipPath id="r"><rect width="{{ width }}" height="20" rx="3" fill="#fff"/></clipPath>\
<g clip-path="url(#r)"><rect width="{{ left }}" height="20" fill="#555"/>\
<rect x="{{ left }}" width="{{ right }}" height="20" fill="{{ colour }}"/>\
<rect width="{{ width }}" height="20" fill="url(#s)"/></g>\
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" \
font-size="11"><text x="{{ left / 2 }}" y="14">{{ label }}</text>\
<text x="{{ left + right / 2 }}" y="14">{{ value }}</text></g></svg>
"""

STATUS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ name }}: {{ state }}</title>
<style>
  body { margin: 0; padding: 16px; font: 14px/1.4 system-ui, "Liberation Sans", sans-serif;
         color: #1f2937; background: #fff; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  .state { display: inline-block; padding: 2px 8px; border-radius: 10px; color: #fff;
           font-weight: 600; font-size: 12px; text-transform: uppercase; }
  .up { background: #16a34a; } .down { background: #dc2626; }
  .pending, .paused { background: #6b7280; }
  .muted { color: #6b7280; font-size: 12px; }
  table.uptime { border-collapse: collapse; margin: 12px 0; }
  table.uptime td { padding: 2px 12px 2px 0; }
  img.shot { max-width: 100%; border: 1px solid #e5e7eb; }
  .changes { display: grid; gap: 12px; margin-top: 12px; }
  .change figure { display: inline-block; margin: 0 8px 0 0; width: 30%; vertical-align: top; }
  .change img { width: 100%; border: 1px solid #e5e7eb; }
  figcaption { font-size: 11px; color: #6b7280; }
</style></head>
<body>
  <h1>{{ name }}</h1>
  <div><span class="state {{ state }}">{{ state }}</span>
    <span class="muted">{{ url }}{% if last_at %} · checked {{ last_at }}{% endif %}</span></div>
  <table class="uptime"><tr>
    {% for label, value in uptime %}<td><strong>{{ value }}</strong>
    <div class="muted">uptime {{ label }}</div></td>{% endfor %}
  </tr></table>
  <figure style="margin:0">
    <svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{{ chart.width }}"
         height="{{ chart.height }}" viewBox="0 0 {{ chart.width }} {{ chart.height }}"
         role="img" aria-label="response times">
      <rect width="{{ chart.width }}" height="{{ chart.height }}" fill="#f9fafb"/>
      {% if chart.points %}<polyline fill="none" stroke="#2563eb" stroke-width="2"
        points="{{ chart.points }}"/>{% endif %}
      {% for x, y in chart.failures %}<circle cx="{{ x }}" cy="{{ y }}" r="3"
        fill="#dc2626"/>{% endfor %}
    </svg>
    <figcaption>response time, last {{ chart.count }} checks (max {{ chart.max_ms }} ms)
    </figcaption>
  </figure>
  {% if latest %}<p><img class="shot" src="{{ latest }}" alt="{{ name }}, latest capture"></p>
  {% endif %}
  {% if changes %}<h2 style="font-size:15px">Last changes</h2>
  <div class="changes">{% for change in changes %}<div class="change">
    <div class="muted">{{ change.at }} · {{ change.percent }} changed</div>
    <figure><img src="{{ change.before }}" alt="before"><figcaption>before</figcaption></figure>
    <figure><img src="{{ change.after }}" alt="after"><figcaption>after</figcaption></figure>
    <figure><img src="{{ change.diff }}" alt="diff"><figcaption>diff</figcaption></figure>
  </div>{% endfor %}</div>{% endif %}
</body></html>
"""

SCRIPT = """(function () {
  var here = document.currentScript;
  var link = document.createElement('a');
  link.href = {{ status | tojson }};
  link.target = '_blank';
  link.rel = 'noopener';
  var image = document.createElement('img');
  image.src = {{ image | tojson }};
  image.alt = {{ alt | tojson }};
  image.style.maxWidth = '100%';
  link.appendChild(image);
  here.parentNode.insertBefore(link, here);
})();
"""
