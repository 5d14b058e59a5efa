// Builds the DOM of one log row. Line content only ever goes through text nodes and
// textContent: a line such as `<img src=x onerror=...>` is shown as the characters it is.

const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/g;
const CONTROL_BUT_NEWLINE = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** Control characters shown as their Unicode "control picture" (same length, so match offsets hold). */
export function visible(text, keepNewlines = false) {
  return text.replace(keepNewlines ? CONTROL_BUT_NEWLINE : CONTROL, (c) => (c === "\x7f" ? "\u2421" : String.fromCharCode(0x2400 + c.charCodeAt(0))));
}

const pad2 = (n) => String(n).padStart(2, "0");

export function formatTime(seconds) {
  if (!seconds) return "";
  const d = new Date(seconds * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

export function isoTime(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString() : "";
}

/** Parsed JSON object for a line that is one JSON object/array, else null (cached on the line). */
export function lineJson(line) {
  if (line.json !== undefined) return line.json;
  line.json = null;
  const s = line.plain;
  if (s.length >= 2 && s.length < 1_000_000) {
    const t = s.trim();
    if ((t[0] === "{" && t[t.length - 1] === "}") || (t[0] === "[" && t[t.length - 1] === "]")) {
      try {
        const value = JSON.parse(t);
        if (value && typeof value === "object") line.json = value;
      } catch {
        /* not JSON */
      }
    }
  }
  return line.json;
}

export function prettyJson(line) {
  return (line.pretty ??= JSON.stringify(lineJson(line), null, 2));
}

/**
 * Append `text` to `parent` split at colour-run and match boundaries: plain stretches as
 * text nodes, coloured ones as <span class>, matches as <mark>.
 */
export function appendStyled(parent, text, runs, ranges, keepNewlines = false) {
  const shown = visible(text, keepNewlines);
  if (!runs && !ranges.length) {
    parent.appendChild(document.createTextNode(shown));
    return;
  }
  const cuts = new Set([0, shown.length]);
  for (const r of runs || []) cuts.add(r.s).add(r.e);
  for (const [s, e] of ranges) cuts.add(s).add(e);
  const points = [...cuts].filter((p) => p >= 0 && p <= shown.length).sort((a, b) => a - b);
  let ri = 0;
  let mi = 0;
  for (let k = 0; k + 1 < points.length; k++) {
    const a = points[k];
    const b = points[k + 1];
    if (a === b) continue;
    while (runs && ri < runs.length && runs[ri].e <= a) ri++;
    while (mi < ranges.length && ranges[mi][1] <= a) mi++;
    const cls = runs && ri < runs.length && runs[ri].s <= a ? runs[ri].cls : "";
    const hit = mi < ranges.length && ranges[mi][0] <= a;
    const chunk = shown.slice(a, b);
    if (hit) {
      const mark = document.createElement("mark");
      mark.className = cls ? "hit " + cls : "hit";
      mark.textContent = chunk;
      parent.appendChild(mark);
    } else if (cls) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = chunk;
      parent.appendChild(span);
    } else {
      parent.appendChild(document.createTextNode(chunk));
    }
  }
}

const JSON_TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

/** Pretty JSON with token classes; the match highlights are applied per token. */
function appendJson(parent, pretty, ranges) {
  let last = 0;
  const piece = (s, e, cls) => {
    if (e <= s) return;
    const sub = ranges.filter(([a, b]) => b > s && a < e).map(([a, b]) => [Math.max(a, s) - s, Math.min(b, e) - s]);
    if (!cls) return appendStyled(parent, pretty.slice(s, e), null, sub, true);
    const span = document.createElement("span");
    span.className = cls;
    appendStyled(span, pretty.slice(s, e), null, sub, true);
    parent.appendChild(span);
  };
  JSON_TOKEN.lastIndex = 0;
  let m;
  while ((m = JSON_TOKEN.exec(pretty)) !== null) {
    piece(last, m.index, "");
    let cls;
    if (m[1] !== undefined) cls = m[2] ? "j-key" : "j-str";
    else if (m[3] !== undefined) cls = "j-lit";
    else cls = "j-num";
    const end = m[1] !== undefined ? m.index + m[1].length : m.index + m[0].length;
    piece(m.index, end, cls);
    last = end;
  }
  piece(last, pretty.length, "");
}

/**
 * Build the row element. `ctx`: {filter, expandJson, sourceClass(source)}.
 */
export function buildRow(line, ctx) {
  const row = document.createElement("div");
  row.dataset.id = String(line.id);
  if (line.marker) {
    row.className = "row marker marker-" + line.kind;
    const msg = document.createElement("span");
    msg.className = "msg";
    msg.textContent = line.text;
    row.appendChild(msg);
    return row;
  }
  row.className = "row" + (line.level ? " lvl-" + line.level : "");

  const ts = document.createElement("span");
  ts.className = "ts";
  ts.textContent = formatTime(line.time);
  row.appendChild(ts);

  const src = document.createElement("span");
  src.className = "src " + ctx.sourceClass(line.source);
  src.textContent = line.source;
  src.title = line.source;
  row.appendChild(src);

  const msg = document.createElement("span");
  msg.className = "msg";
  const json = lineJson(line);
  const expanded = json && (line.expanded ?? ctx.expandJson);
  if (json) {
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "jt";
    toggle.setAttribute("aria-expanded", String(Boolean(expanded)));
    toggle.setAttribute("aria-label", expanded ? "Collapse JSON" : "Expand JSON");
    toggle.textContent = expanded ? "\u25be" : "\u25b8";
    msg.appendChild(toggle);
  }
  const ranges = ctx.filter.highlights ? ctx.filter.ranges(line.plain) : [];
  appendStyled(msg, line.plain, ctx.ansi ? line.runs : null, ranges);
  if (line.truncated) {
    const cut = document.createElement("span");
    cut.className = "cut";
    cut.textContent = "truncated";
    cut.title = "The line was longer than the sidecar's maximum and was cut";
    msg.appendChild(cut);
  }
  row.appendChild(msg);

  if (expanded) {
    row.classList.add("expanded");
    const block = document.createElement("div");
    block.className = "json";
    const pretty = prettyJson(line);
    appendJson(block, pretty, ctx.filter.highlights ? ctx.filter.ranges(pretty) : []);
    row.appendChild(block);
  }
  return row;
}
