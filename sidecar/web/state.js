// The viewer's shared state, in one object passed to every module (no module-level globals).
//
// Data flow: stream (controller.js) -> LineStore (every received line, sorted by id)
// -> FilteredView (what the filter keeps) -> VirtualLog (the visible rows only).

import { compileFilter } from "./filters.js";
import { fieldValue } from "./render.js";
import { parseFieldFilter } from "./settings.js";
import { FilteredView, LineStore } from "./store.js";

export function createState(settings) {
  return {
    settings,
    store: new LineStore(settings.cap),
    view: new FilteredView(),
    filter: compileSettingsFilter(settings),
    sources: [], // from api/sources
    selected: settings.source ? settings.source.split(",").filter(Boolean) : [], // [] = all
    paused: false,
    held: [], // lines received while paused
    connState: null, // overrides the stream state in the status bar (offline, login)
    authMode: null, // null (no auth), "bearer" or "basic"
    loggedIn: false,
    gapsTotal: 0, // lines known missed (after fetch-back)
    gapLog: [], // every gap event received, for the console and the tests
    newWhileScrolled: 0,
    // set by app.js once built:
    vp: null, // VirtualLog
    rowContext: null,
    controller: null,
    status: null,
    currentId: null, // the line of the current search match / permalink
    auth: null,
    sourcePicker: null,
  };
}

export function compileSettingsFilter(settings) {
  const base = compileFilter({ text: settings.q, regex: settings.re, matchCase: settings.case, level: settings.level, highlightOnly: settings.hl });
  const fields = settings.field.map(parseFieldFilter).filter(Boolean);
  const [from, to] = settings.tw ? settings.tw.split(",").map(Number) : [null, null];
  if (!fields.length && from === null) return base;
  const test = base.test;
  const inTime = from === null ? () => true : (line) => line.time >= from && line.time <= to;
  return {
    ...base, active: true, fields: settings.field,
    test: (line) => inTime(line) && fields.every((f) => fieldMatches(line, f)) && test(line),
  };
}

/** The browser's side of a `field=KEY OP VALUE` filter (lines without the key do not match). */
export function fieldMatches(line, { key, op, value }) {
  const got = fieldValue(line.fields, key);
  if (got === undefined || got === null) return false;
  const text = typeof got === "object" ? JSON.stringify(got) : String(got);
  if (op === "=") return text === value;
  if (op === "!=") return text !== value;
  if (op === "~") {
    try {
      return new RegExp(value).test(text);
    } catch {
      return false;
    }
  }
  const a = Number(text);
  const b = Number(value);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return op === ">" ? a > b : op === ">=" ? a >= b : op === "<" ? a < b : a <= b;
}
