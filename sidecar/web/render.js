// Builds the DOM of one log row. Line content only ever goes through text nodes and
// textContent: a line such as `<img src=x onerror=...>` is shown as the characters it is.

import { clockTime, fullTime } from "./time.js";

export { isoTime } from "./time.js";

// Characters that would reorder or hide text: C0 and C1 controls, DEL, and the bidi
// controls (a `user=\u202egnp.exe` must not display as `exe.png`). Each is shown as a
// small boxed ASCII name (ESC, RLO, ...), so no installed font is needed for it.
const SPECIAL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const SPECIAL_BUT_NEWLINE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const C0 = "NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US".split(" ");
const C1 = "PAD HOP BPH NBH IND NEL SSA ESA HTS HTJ VTS PLD PLU RI SS2 SS3 DCS PU1 PU2 STS CCH MW SPA EPA SOS SGCI SCI CSI ST OSC PM APC".split(" ");
const NAMED = {
  0x7f: "DEL", 0x61c: "ALM", 0x200e: "LRM", 0x200f: "RLM", 0x202a: "LRE", 0x202b: "RLE", 0x202c: "PDF",
  0x202d: "LRO", 0x202e: "RLO", 0x2066: "LRI", 0x2067: "RLI", 0x2068: "FSI", 0x2069: "PDI",
};

/** The short name shown for a control character. */
export function controlName(c) {
  const code = c.charCodeAt(0);
  if (code < 0x20) return C0[code];
  if (code >= 0x80 && code <= 0x9f) return C1[code - 0x80];
  return NAMED[code] ?? "U+" + code.toString(16).toUpperCase().padStart(4, "0");
}

/** Append `text`, every control character as a boxed name (`.cc`), the rest as text nodes. */
function appendText(parent, text, keepNewlines) {
  const re = keepNewlines ? SPECIAL_BUT_NEWLINE : SPECIAL;
  if (!re.test(text)) {
    parent.appendChild(document.createTextNode(text));
    return;
  }
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (!re.test(c)) continue;
    if (i > start) parent.appendChild(document.createTextNode(text.slice(start, i)));
    const box = document.createElement("span");
    box.className = "cc";
    box.textContent = controlName(c);
    box.title = "U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    box.dataset.char = c; // copied as the character itself
    parent.appendChild(box);
    start = i + 1;
  }
  if (start < text.length) parent.appendChild(document.createTextNode(text.slice(start)));
}

/** Parsed JSON object for a line that is one JSON object/array, else null (cached on the line). */
export function lineJson(line) {
  if (line.json !== undefined) return line.json;
  line.json = null;
  if (line.fields && typeof line.fields === "object") return (line.json = line.fields); // parsed by the sidecar
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
  const shown = text;
  if (!runs && !ranges.length) {
    appendText(parent, shown, keepNewlines);
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
      appendText(mark, chunk, keepNewlines);
      parent.appendChild(mark);
    } else if (cls) {
      const span = document.createElement("span");
      span.className = cls;
      appendText(span, chunk, keepNewlines);
      parent.appendChild(span);
    } else {
      appendText(parent, chunk, keepNewlines);
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

const STAMP = /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)\s+/;

/**
 * Length of a leading timestamp that says the same as the time column (the line's own time,
 * parsed by the sidecar): it is not shown twice. 0 when there is none or it differs.
 */
export function stampLength(line) {
  if (line.stampLen !== undefined) return line.stampLen;
  line.stampLen = 0;
  const m = STAMP.exec(line.plain);
  if (m) {
    const t = Date.parse(m[0].trim().replace(" ", "T").replace(",", "."));
    if (Number.isFinite(t) && Math.abs(t / 1000 - line.time) < 0.0015) line.stampLen = m[0].length;
  }
  return line.stampLen;
}

function shiftRuns(runs, by) {
  if (!runs || !by) return runs;
  const out = [];
  for (const r of runs) if (r.e > by) out.push({ s: Math.max(0, r.s - by), e: r.e - by, cls: r.cls });
  return out.length ? out : null;
}

const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  copy: ["M5.5 5.5h7v8h-7z", "M3.5 10.5v-8h7"],
  link: ["M7 9a3 3 0 0 0 4.2 0l2-2a3 3 0 0 0-4.2-4.2l-.8.8", "M9 7a3 3 0 0 0-4.2 0l-2 2a3 3 0 0 0 4.2 4.2l.8-.8"],
  context: ["M8 1.5v13", "M5 4.5l3-3 3 3", "M5 11.5l3 3 3-3"],
};

/**
 * The row actions (copy, link, context): one bar for the whole log, moved into the row under
 * the pointer (or the current row), so rows cost no extra nodes while scrolling.
 */
export function actionBar() {
  const acts = document.createElement("span");
  acts.className = "acts";
  acts.append(
    iconButton("act-copy", "Copy the line (a whole entry when collapsed)", "copy"),
    iconButton("act-link", "Copy a link to this line", "link"),
    iconButton("act-context", "Show the lines around this one", "context"),
  );
  return acts;
}

/** A row action button with an SVG icon (built as DOM nodes: no markup strings, no icon font). */
function iconButton(cls, label, icon) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "act " + cls;
  b.title = label;
  b.setAttribute("aria-label", label);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", "icon");
  for (const d of ICONS[icon]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
  }
  b.appendChild(svg);
  return b;
}

/** Field values as columns (chosen in the key picker); a click on a value filters by it. */
function appendFields(row, line, ctx) {
  for (const key of ctx.fieldColumns) {
    const cell = document.createElement("span");
    cell.className = "fcol";
    const value = fieldValue(line.fields, key);
    if (value !== undefined) {
      const text = typeof value === "object" ? JSON.stringify(value) : String(value);
      const b = document.createElement("button");
      b.type = "button";
      b.className = "fval";
      b.dataset.key = key;
      b.dataset.value = text;
      b.title = `${key}=${text}: click to filter`;
      b.textContent = text;
      cell.appendChild(b);
    }
    row.appendChild(cell);
  }
}

/** A dotted key (`http.status`) looked up in the parsed fields. */
export function fieldValue(fields, key) {
  if (!fields || typeof fields !== "object") return undefined;
  if (key in fields) return fields[key];
  let value = fields;
  for (const part of key.split(".")) {
    if (!value || typeof value !== "object" || !(part in value)) return undefined;
    value = value[part];
  }
  return value;
}

/**
 * Build the row element. `ctx`: {filter, expandJson, ansi, sourceClass(source), showTs,
 * currentId, fieldColumns, entrySize(line) -> continuation count, entryOpen(line) -> bool}.
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
  const cont = line.entry !== null;
  row.className = "row" + (line.level ? " lvl-" + line.level : "") + (cont ? " cont" : "")
    + (line.id === ctx.currentId ? " current" : "") + (line.context === true ? " context" : "");

  const ts = document.createElement("span");
  ts.className = "ts";
  const clock = clockTime(line.time);
  ts.append(clock.slice(0, 8));
  const ms = document.createElement("span");
  ms.className = "ms";
  ms.textContent = clock.slice(8);
  ts.appendChild(ms);
  ts.title = fullTime(line.time);
  row.appendChild(ts);

  const src = document.createElement("span");
  src.className = "src " + ctx.sourceClass(line.source);
  src.textContent = line.source;
  src.title = line.source;
  row.appendChild(src);

  if (ctx.fieldColumns.length) appendFields(row, line, ctx);

  const msg = document.createElement("span");
  msg.className = "msg";
  const more = cont ? 0 : ctx.entrySize(line);
  if (more) {
    const open = ctx.entryOpen(line);
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "et";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.title = open ? "Collapse this entry" : `Show the ${more} more lines of this entry`;
    toggle.textContent = open ? "\u25be" : `\u25b8 +${more}`;
    msg.appendChild(toggle);
  }
  const json = lineJson(line);
  const expanded = json && (line.expanded ?? ctx.expandJson);
  if (json) {
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "jt";
    toggle.setAttribute("aria-expanded", String(Boolean(expanded)));
    toggle.setAttribute("aria-label", expanded ? "Collapse fields" : "Expand fields");
    toggle.textContent = expanded ? "\u25be" : "\u25b8";
    msg.appendChild(toggle);
  }
  const skip = ctx.showTs ? stampLength(line) : 0;
  const text = skip ? line.plain.slice(skip) : line.plain;
  const ranges = ctx.filter.highlights ? ctx.filter.ranges(text) : [];
  appendStyled(msg, text, ctx.ansi ? shiftRuns(line.runs, skip) : null, ranges);
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
