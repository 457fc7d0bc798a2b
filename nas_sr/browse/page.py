"""The HTML of ``nas-sr serve``: the study page (controls, front, hypervolume; data from the JSON
endpoints) and a trial's page (config, costs, training curve, crops). plotly.js comes from the
server (``/static/plotly.min.js``, the installed plotly package's copy): the pages work offline.
"""

from __future__ import annotations

import html
import json
from typing import Any, Mapping

PLOTLY_JS = "/static/plotly.min.js"

_STYLE = """body{font-family:sans-serif;margin:1em 1.5em;color:#222} [hidden]{display:none!important}
.controls{display:flex;flex-wrap:wrap;gap:.4em 1.2em;align-items:flex-end;margin-bottom:.5em}
.controls>label{display:flex;flex-direction:column;font-size:.85em} fieldset label{margin-right:.6em;white-space:nowrap}
.controls input[type=number]{width:7em}
fieldset{border:1px solid #ccc;padding:.2em .6em;font-size:.85em}
.note{color:#555;font-size:.9em} .error{color:#b00}
table{border-collapse:collapse;font-size:.9em} td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}
.crops{display:flex;gap:1em;flex-wrap:wrap} .crops figure{margin:0}
.crops img{width:288px;height:288px;image-rendering:pixelated;border:1px solid #ccc}
pre{background:#f6f6f6;padding:.6em;font-size:.85em;overflow:auto}"""


def study_page(study: str) -> str:
    """The study page; its script asks ``/api/columns`` what to offer, then ``/api/front`` and
    ``/api/hypervolume`` for the current choices (kept in the address's query string)."""
    title = html.escape(f"nas-sr serve: study {study}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_STYLE}</style>
<script>/* asked for before plotly.js is parsed, so the server works meanwhile */
window.nasSrFirst = fetch("/api/front" + window.location.search);</script>
<script src="{PLOTLY_JS}"></script><script>window.nasSrMarks = {{plotly: performance.now()}};</script>
</head><body>
<h1>{title}</h1>
<p class="note" id="summary">loading...</p>
<div class="controls">
 <label>x <select id="x"></select></label>
 <label>y <select id="y"></select></label>
 <label>z (3-D) <select id="z"><option value="">(none: 2-D)</option></select></label>
 <label id="latency-box" hidden>latency device <select id="latency"></select></label>
 <fieldset id="families"><legend>family</legend></fieldset>
 <fieldset id="scales"><legend>scale</legend></fieldset>
 <fieldset><legend>ranges</legend><span id="ranges"></span></fieldset>
 <label><span><input type="checkbox" id="hidden"> show pruned/failed</span></label>
 <label><span><input type="checkbox" id="literature" checked> published results</span></label>
</div>
<p class="error" id="error"></p>
<div id="front" style="min-height:560px"></div>
<p class="note" id="front-note"></p>
<div id="hypervolume"></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let info = null, request = 0;
window.nasSr = {{rendered: 0}};

function option(select, value, text) {{
  const o = document.createElement("option"); o.value = value; o.textContent = text; select.appendChild(o);
}}
function checkboxes(box, name, values) {{
  for (const v of values) {{
    const l = document.createElement("label"); const c = document.createElement("input");
    c.type = "checkbox"; c.name = name; c.value = v; c.checked = true; c.addEventListener("change", draw);
    l.appendChild(c); l.appendChild(document.createTextNode(" " + v)); box.appendChild(l);
  }}
}}
function checked(name) {{
  const all = [...document.querySelectorAll(`input[name="${{name}}"]`)];
  const on = all.filter((c) => c.checked).map((c) => c.value);
  return on.length === all.length ? [] : on;
}}
function rangeInputs(given) {{
  const box = $("ranges"); box.textContent = "";
  const ranges = given ? given.getAll("range") : [];
  for (const axis of ["x", "y", "z"]) {{
    const column = $(axis).value; if (!column) continue;
    const span = document.createElement("span"); span.textContent = ` ${{axis}}: `;
    const kept = (ranges.find((r) => r.startsWith(column + ":")) || "").slice(column.length + 1).split(":");
    ["min", "max"].forEach((side, k) => {{
      const i = document.createElement("input"); i.type = "number"; i.step = "any"; i.placeholder = side;
      i.id = `${{axis}}-${{side}}`; i.value = kept[k] || ""; i.addEventListener("change", draw); span.appendChild(i);
    }});
    box.appendChild(span);
  }}
}}
function query() {{
  const q = new URLSearchParams();
  for (const axis of ["x", "y", "z"]) {{
    const column = $(axis).value; if (!column) continue;
    q.append(axis, column);
    const lo = $(`${{axis}}-min`), hi = $(`${{axis}}-max`);
    if ((lo && lo.value !== "") || (hi && hi.value !== "")) q.append("range", `${{column}}:${{lo ? lo.value : ""}}:${{hi ? hi.value : ""}}`);
  }}
  for (const f of checked("family")) q.append("family", f);
  for (const s of checked("scale")) q.append("scale", s);
  if ($("hidden").checked) q.append("hidden", "1");
  if (!$("literature").checked) q.append("literature", "0");
  return q;
}}
async function fetchJson(url, started) {{
  const r = await (started || fetch(url)); const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}}
// The first front (asked for in the head, with the address's choices) is drawn when it comes.
let firstFront = fetchJson("", window.nasSrFirst);
async function draw() {{
  const mine = ++request, q = query();
  history.replaceState(null, "", "?" + q.toString());
  $("error").textContent = "";
  try {{
    const pending = firstFront; firstFront = null;
    const front = await (pending || fetchJson("/api/front?" + q.toString()));
    if (mine !== request) return;
    window.nasSrMarks.data = window.nasSrMarks.data || performance.now();
    await Plotly.react("front", front.figure.data, front.figure.layout, {{responsive: true}});
    const m = front.meta;
    $("front-note").textContent = `${{m.points}} COMPLETE trials drawn, ${{m.front.length}} non-dominated, ` +
      `${{m.infeasible.length}} infeasible (grey), ${{m.hidden}} pruned/failed ` +
      `${{$("hidden").checked ? "(" + m.hidden_drawn + " drawn)" : "hidden"}}, ${{m.literature}} published points. ` +
      "Click a point for its trial page.";
    window.nasSr = {{rendered: performance.now(), meta: m, marks: window.nasSrMarks}};
    const gd = $("front");
    gd.removeAllListeners && gd.removeAllListeners("plotly_click");
    gd.on("plotly_click", (e) => {{
      const n = e.points[0].customdata;
      if (Number.isInteger(n)) window.location.href = "/trial/" + n;
    }});
    const hq = new URLSearchParams(q); hq.delete("hidden"); hq.delete("literature");
    const hv = await fetchJson("/api/hypervolume?" + hq.toString());
    if (mine !== request) return;
    await Plotly.react("hypervolume", hv.figure.data, hv.figure.layout, {{responsive: true}});
  }} catch (err) {{
    $("error").textContent = String(err.message || err);
  }}
}}
function latencyChanged() {{
  for (const axis of ["x", "y", "z"]) if (info.latency.includes($(axis).value)) $(axis).value = $("latency").value;
  rangeInputs(); draw();
}}
async function start() {{
  info = await fetchJson("/api/columns");
  window.nasSrMarks.columns = performance.now();
  const given = new URLSearchParams(window.location.search);
  for (const axis of ["x", "y", "z"]) for (const c of info.columns) option($(axis), c.key, c.name);
  $("x").value = given.get("x") || info.x; $("y").value = given.get("y") || info.y; $("z").value = given.get("z") || "";
  if (info.latency.length > 1) {{
    $("latency-box").hidden = false;
    for (const c of info.latency) option($("latency"), c, c === "latency_ms" ? "as measured (latency_ms)"
      : c.startsWith("latency_pred_ms@") ? c.slice(16) + " (predicted)" : c.slice(11));
    $("latency").addEventListener("change", latencyChanged);
  }}
  checkboxes($("families"), "family", info.families);
  checkboxes($("scales"), "scale", info.scales.map(String));
  $("hidden").checked = given.get("hidden") === "1"; $("literature").checked = given.get("literature") !== "0";
  for (const id of ["x", "y", "z"]) $(id).addEventListener("change", () => {{ rangeInputs(); draw(); }});
  for (const id of ["hidden", "literature"]) $(id).addEventListener("change", draw);
  const states = Object.entries(info.states).map(([k, v]) => `${{k}} ${{v}}`).join(", ");
  $("summary").textContent = `${{info.trials}} trials (${{states}}); objectives ${{info.objectives.join(", ")}}` +
    (info.reference ? `; reference study ${{info.reference}}` : "");
  rangeInputs(given); draw();
}}
start().catch((err) => {{ $("error").textContent = String(err.message || err); }});
</script></body></html>
"""


def trial_page(study: str, trial: Mapping[str, Any], curve_figure: "str | None") -> str:
    """A trial's page from :meth:`~nas_sr.browse.dashboard.Dashboard.trial` data; ``curve_figure``
    is the training curve as plotly JSON (None: no curve recorded)."""
    esc = html.escape
    number = int(trial["number"])
    title = esc(f"trial {number} of study {study}")

    def rows(values: Mapping[str, Any]) -> str:
        return "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(_text(v))}</td></tr>" for k, v in values.items())

    parts = [f"<p class=\"note\"><a href=\"/\">&larr; study {esc(study)}</a> &middot; state {esc(trial['state'])}"
             f" &middot; family {esc(str(trial.get('family')))} &middot; scale {esc(str(trial.get('scale')))}</p>"]
    if trial.get("fail_reason"):
        parts.append(f"<p class=\"error\">fail reason: {esc(str(trial['fail_reason']))}</p>")
    parts.append("<h2>Architecture</h2>")
    parts.append(f"<pre id=\"config\">{esc(json.dumps(trial.get('config'), indent=2, sort_keys=True))}</pre>")
    parts.append(f"<h2>Cost and quality</h2><table id=\"costs\">{rows({**trial['costs'], **trial['metrics']})}</table>")
    crops = trial.get("crops")
    parts.append("<h2>Visual crops</h2>")
    if crops:
        x, y, side = crops["box"]
        parts.append(f"<p class=\"note\">photo {esc(crops['photo'])} (scikit-image), x{int(trial['config']['scale'])}, "
                     f"{side}x{side} px at ({x}, {y}); PSNR on Y over the whole photo by the evaluation protocol"
                     "</p><div class=\"crops\" id=\"crops\">")
        for crop in crops["crops"]:
            label = crop["label"] + ("" if crop["psnr"] is None else f": {crop['psnr']:.2f} dB")
            parts.append(f"<figure><img alt=\"{esc(crop['label'])}\" src=\"{crop['uri']}\">"
                         f"<figcaption>{esc(label)}</figcaption></figure>")
        parts.append("</div>")
        if crops.get("note"):
            parts.append(f"<p class=\"note\" id=\"crops-note\">{esc(crops['note'])}</p>")
    else:
        parts.append("<p class=\"note\">no config with a scale: no crops</p>")
    parts.append("<h2>Training curve</h2>")
    if curve_figure:
        parts.append(f"<div id=\"curve\"></div><script>const curve = {curve_figure};"
                     "Plotly.newPlot('curve', curve.data, curve.layout);</script>")
    else:
        parts.append("<p class=\"note\">no training curve recorded</p>")
    body = "\n".join(parts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_STYLE}</style><script src="{PLOTLY_JS}"></script></head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def curve_figure_json(curve: "list[list[float]]", number: int) -> "str | None":
    """The training loss against the step (log scale) as plotly JSON; None for no curve."""
    if not curve:
        return None
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=[p[0] for p in curve], y=[p[-1] for p in curve], mode="lines+markers",
                                  name="loss"))
    figure.update_layout(title=f"trial {number}: training loss (L1, [0, 1] pixels)", xaxis_title="step",
                         yaxis_title="loss", yaxis_type="log", template="plotly_white", height=340)
    # '</' cannot end the inline script early: JSON's '\/' is the same string.
    return figure.to_json().replace("</", "<\\/")


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)
