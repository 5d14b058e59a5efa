// URL state and settings: every setting lives in the query string, so a URL is a shareable view.

import { LEVELS } from "./filters.js";

export const DEFAULTS = {
  source: "", q: "", re: false, case: false, level: "", tail: 1000, since: "",
  ts: true, wrap: false, json: false, ansi: true, cap: 200000, theme: "",
  utc: false, src: true, hl: false, ctx: 10, cols: "", field: [], tw: "",
};

export function clampInt(value, min, max, fallback) {
  const n = Number.parseInt(value ?? "", 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

/** Settings from the query string; anything missing or invalid takes its default. */
export function readSettings(search = location.search) {
  const p = new URLSearchParams(search);
  const s = { ...DEFAULTS };
  const bool = (key) => (p.has(key) ? ["1", "true", "on", "yes"].includes(p.get(key)) : DEFAULTS[key]);
  s.source = p.getAll("source").join(",");
  s.q = p.get("q") ?? "";
  s.re = bool("re");
  s.case = bool("case");
  s.level = LEVELS.includes(p.get("level")) ? p.get("level") : "";
  s.tail = clampInt(p.get("tail"), 0, 1_000_000, DEFAULTS.tail);
  s.since = p.get("since") ?? "";
  s.ts = bool("ts");
  s.wrap = bool("wrap");
  s.json = bool("json");
  s.ansi = bool("ansi");
  s.cap = clampInt(p.get("cap"), 1000, 1_000_000, DEFAULTS.cap);
  s.theme = ["light", "dark"].includes(p.get("theme")) ? p.get("theme") : "";
  s.utc = bool("utc");
  s.src = bool("src");
  s.hl = bool("hl");
  s.ctx = clampInt(p.get("ctx"), 1, 500, DEFAULTS.ctx);
  s.cols = (p.get("cols") ?? "").split(",").map((c) => c.trim()).filter(Boolean).join(",");
  s.tw = /^\d+(\.\d+)?,\d+(\.\d+)?$/.test(p.get("tw") ?? "") ? p.get("tw") : "";
  s.field = p.getAll("field").filter((f) => parseFieldFilter(f) !== null);
  return s;
}

/** Mirror the settings into the URL (only those that differ from the defaults). */
export function writeSettings(settings) {
  const p = new URLSearchParams();
  for (const [key, value] of Object.entries(settings)) {
    if (!(key in DEFAULTS) || value === DEFAULTS[key]) continue;
    if (Array.isArray(value)) for (const item of value) p.append(key, item);
    else p.set(key, typeof value === "boolean" ? (value ? "1" : "0") : String(value));
  }
  const query = p.toString();
  history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
}

/** `15m`, `2h`, `1d`, `30s` or an RFC 3339 time -> RFC 3339 (UTC); "" when empty; null when invalid. */
export function resolveSince(text) {
  const t = text.trim();
  if (!t) return "";
  const rel = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/i.exec(t);
  if (rel) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[rel[2].toLowerCase()];
    return new Date(Date.now() - Number(rel[1]) * unit * 1000).toISOString();
  }
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** `KEY OP VALUE` (OP one of = != ~ >= <= > <), as the server's `field` parameter takes it; null when malformed. */
export function parseFieldFilter(text) {
  const m = /^([A-Za-z0-9_@.\-]+)\s*(!=|>=|<=|=|~|>|<)\s*(.*)$/.exec(text ?? "");
  return m ? { key: m[1], op: m[2], value: m[3] } : null;
}
