"""The built-in Open Graph templates: ``basic``, ``article`` and ``minimal``.

Each is a whole HTML page of the image's size. The text is set in Liberation Sans, with Noto
Sans CJK for Chinese, Japanese and Korean and Noto Color Emoji for emoji (all installed with
Chromium by ``make``); a long title shrinks to fit and then is cut with an ellipsis. They see
the variables of :meth:`~screenshotd.params.og.OgOptions.context`, autoescaped.
"""

from __future__ import annotations

_HEAD = """<!doctype html>
<html><head><meta charset="utf-8"><style>
  html, body { margin: 0; width: {{ width }}px; height: {{ height }}px; overflow: hidden; }
  body { background: {{ bg_color }}; color: {{ text_color }};
         font-family: "Liberation Sans", "Noto Sans CJK SC", "Noto Sans CJK JP",
                      "Noto Color Emoji", sans-serif;
         -webkit-font-smoothing: antialiased; box-sizing: border-box; }
  .clamp { display: -webkit-box; -webkit-box-orient: vertical; overflow: hidden; }
"""

BUILTIN: dict[str, str] = {
    "basic": _HEAD + """
  body { padding: 72px 80px; display: flex; flex-direction: column; justify-content: center; }
  .bar { position: absolute; left: 0; top: 0; bottom: 0; width: 16px;
         background: {{ accent_color }}; }
  h1 { font-size: {% if title|length > 60 %}56{% else %}72{% endif %}px; line-height: 1.12;
       font-weight: 700; margin: 0; -webkit-line-clamp: 4; }
  p { font-size: 32px; line-height: 1.35; color: {{ muted_color }}; margin: 28px 0 0;
      -webkit-line-clamp: 3; }
  img { position: absolute; right: 72px; bottom: 56px; max-height: 72px; max-width: 240px; }
</style></head><body>
  <div class="bar"></div>
  <h1 class="clamp">{{ title }}</h1>
  {% if description %}<p class="clamp">{{ description }}</p>{% endif %}
  {% if logo_url %}<img src="{{ logo_url }}" alt="">{% endif %}
</body></html>""",
    "article": _HEAD + """
  body { padding: 64px 80px; display: flex; flex-direction: column; }
  .top { display: flex; align-items: center; gap: 20px; height: 64px; }
  .top img { max-height: 64px; max-width: 260px; }
  .rule { width: 120px; height: 8px; background: {{ accent_color }}; margin: 40px 0 32px;
          border-radius: 4px; }
  h1 { font-size: {% if title|length > 70 %}52{% else %}64{% endif %}px; line-height: 1.15;
       margin: 0; font-weight: 700; -webkit-line-clamp: 3; }
  p { font-size: 30px; line-height: 1.4; color: {{ muted_color }}; margin: 24px 0 0;
      -webkit-line-clamp: 3; }
</style></head><body>
  <div class="top">{% if logo_url %}<img src="{{ logo_url }}" alt="">{% endif %}</div>
  <div class="rule"></div>
  <h1 class="clamp">{{ title }}</h1>
  {% if description %}<p class="clamp">{{ description }}</p>{% endif %}
</body></html>""",
    "minimal": _HEAD + """
  body { display: flex; align-items: center; justify-content: center; text-align: center;
         padding: 80px; }
  h1 { font-size: {% if title|length > 50 %}60{% else %}84{% endif %}px; line-height: 1.1;
       margin: 0; font-weight: 700; letter-spacing: -0.01em; -webkit-line-clamp: 4; }
</style></head><body>
  <h1 class="clamp">{{ title }}</h1>
</body></html>""",
}
