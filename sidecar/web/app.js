// log-sidecar viewer: wires the stream, the line store, the filter and the virtual list.
//
// Data flow: EventSource batches -> (pause buffer) -> LineStore (sorted, deduplicated by
// id, capped) -> FilteredView (what the filter keeps) -> VirtualLog (visible rows only).
// DOM work happens once per animation frame, however many batches arrived.

import { compileFilter, LEVELS } from "./filters.js";
import { FilteredView, LineStore, makeLine, makeMarker } from "./store.js";
import { StreamClient } from "./stream.js";
import { buildRow, isoTime } from "./render.js";
import { VirtualLog } from "./viewport.js";

const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat();
const OLDER_PAGE = 1000;
const FILL_PAGE = 10000;
const SERVER_FILTER_DELAY = 400;

// ---------- settings (mirrored in the query string) ----------

const DEFAULTS = { source: "", q: "", re: false, case: false, level: "", tail: 1000, since: "", ts: true, wrap: false, json: false, ansi: true, cap: 200000, theme: "" };

function readSettings() {
  const p = new URLSearchParams(location.search);
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
  return s;
}

function clampInt(value, min, max, fallback) {
  const n = Number.parseInt(value ?? "", 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

function writeSettings() {
  const p = new URLSearchParams();
  for (const [key, value] of Object.entries(settings)) {
    if (value === DEFAULTS[key]) continue;
    p.set(key, typeof value === "boolean" ? (value ? "1" : "0") : String(value));
  }
  const query = p.toString();
  history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
}

/** `15m`, `2h`, `1d`, `30s` or an RFC 3339 time -> RFC 3339 (UTC); "" when empty; null when invalid. */
function resolveSince(text) {
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

// ---------- state ----------

const settings = readSettings();
const store = new LineStore(settings.cap);
const view = new FilteredView();
let filter = compileFilter({ text: settings.q, regex: settings.re, matchCase: settings.case, level: settings.level });
let sources = []; // from api/sources
let selected = settings.source ? settings.source.split(",").filter(Boolean) : []; // [] = all
let paused = false;
let held = []; // lines received while paused
let incoming = []; // lines waiting for the next frame
let flushQueued = false;
let newWhileScrolled = 0;
let rateCount = 0;
let gapsTotal = 0;
let authMode = null; // null (no auth), "bearer" or "basic"
let loggedIn = false;
let streamFilterKey = null; // grep+level the open stream was asked for
let spans = []; // {lo, hi, keys:Set}: id ranges whose lines were received through a server filter
let openSpan = null;
let olderState = "idle"; // idle | loading | done
let reconnectTimer = 0;
let reconnectDelay = 500;
let resync = null; // after a sidecar restart: per source, drop lines already shown
let serverFilterTimer = 0;
let connectGeneration = 0;

const log = $("log");
const vp = new VirtualLog(log, {
  view,
  buildRow: (line) => buildRow(line, rowContext),
  onNearTop: () => loadOlder(),
  onFollowChange: (on) => {
    if (on) newWhileScrolled = 0;
    updateJump();
  },
  onToggle: (line) => {
    const json = line.json;
    if (!json) return;
    line.expanded = !(line.expanded ?? settings.json);
    vp.invalidateLine(line);
  },
});

const rowContext = {
  filter,
  expandJson: settings.json,
  ansi: settings.ansi,
  sourceClass: (source) => "c" + colourIndex(source),
};

// Source colours: given in the order sources are first seen (sorted on each source-list
// load), so up to eight sources never share a colour.
const colours = new Map();
function colourIndex(source) {
  let index = colours.get(source);
  if (index === undefined) {
    index = colours.size % 8;
    colours.set(source, index);
  }
  return index;
}

// ---------- HTTP helpers ----------

class AuthRequired extends Error {
  constructor(mode) {
    super("authentication required");
    this.mode = mode;
  }
}

async function api(path, init = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    cache: "no-store",
    ...init,
    headers: { Accept: "application/json", "X-Requested-With": "log-sidecar-viewer", ...(init.headers || {}) },
  });
  if (response.status === 401) {
    throw new AuthRequired(await authModeOf(response));
  }
  return response;
}

/** The sidecar's auth mode: from the challenge header, else from the open `api/auth`. */
async function authModeOf(response) {
  let scheme = (response.headers.get("WWW-Authenticate") || "").toLowerCase();
  if (!scheme) {
    try {
      scheme = ((await (await fetch("api/auth", { credentials: "same-origin", cache: "no-store" })).json()).mode || "").toLowerCase();
    } catch {
      scheme = "";
    }
  }
  return scheme.startsWith("basic") ? "basic" : "bearer";
}

function filterParams(params, { grep = true } = {}) {
  if (selected.length) params.set("source", selected.join(","));
  if (grep && filter.grep && !serverRejectedGrep) params.set("grep", filter.grep);
  if (filter.level) params.set("level", filter.level);
  return params;
}
let serverRejectedGrep = false;

function serverKey() {
  return JSON.stringify([filter.grep && !serverRejectedGrep ? filter.grep : null, filter.level]);
}
const UNFILTERED = JSON.stringify([null, null]);

// ---------- sources ----------

async function loadSources() {
  const response = await api("api/sources");
  if (!response.ok) throw new Error(`api/sources: HTTP ${response.status}`);
  const body = await response.json();
  sources = body.sources || [];
  for (const id of sources.map((source) => source.id).sort()) colourIndex(id);
  const known = new Set(sources.map((source) => source.id));
  const missing = selected.filter((id) => !known.has(id));
  if (missing.length && sources.length) {
    selected = selected.filter((id) => known.has(id));
    settings.source = selected.join(",");
    writeSettings();
    setNotice(`Unknown source ${missing.join(", ")}: showing ${selected.length ? selected.join(", ") : "all"}`);
  }
  renderSources();
}

function renderSources() {
  const list = $("source-list");
  const items = sources.map((source) => {
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = source.id;
    box.checked = selected.length === 0 || selected.includes(source.id);
    box.addEventListener("change", onSourceToggle);
    const swatch = document.createElement("span");
    swatch.className = "swatch c" + colourIndex(source.id);
    const name = document.createElement("span");
    name.textContent = source.id;
    const target = document.createElement("span");
    target.className = "source-target";
    target.textContent = `${source.kind} · ${source.state}`;
    label.title = `${source.target} (${source.state}${source.error ? ": " + source.error : ""})`;
    label.append(box, swatch, name, target);
    return label;
  });
  list.replaceChildren(...items);
  $("source-all").checked = selected.length === 0;
  $("source-hint").textContent = sources.length ? "" : "No sources yet.";
  $("sources-label").textContent = selected.length === 0 ? "all" : selected.length === 1 ? selected[0] : `${selected.length} selected`;
  updateSourceColumn();
}

function updateSourceColumn() {
  const shown = selected.length ? selected : sources.map((s) => s.id);
  const single = shown.length <= 1;
  log.classList.toggle("no-src", single);
  const width = Math.min(18, Math.max(6, ...shown.map((id) => id.length)));
  log.style.setProperty("--src-w", width + "ch");
  vp.measureFont();
}

function onSourceToggle() {
  const boxes = [...$("source-list").querySelectorAll("input[type=checkbox]")];
  const checked = boxes.filter((b) => b.checked).map((b) => b.value);
  selected = checked.length === boxes.length ? [] : checked;
  if (checked.length === 0) selected = [];
  settings.source = selected.join(",");
  renderSources();
  writeSettings();
  reload();
}

$("source-all").addEventListener("change", (e) => {
  if (!e.target.checked && selected.length === 0) {
    e.target.checked = true;
    return;
  }
  selected = [];
  settings.source = "";
  renderSources();
  writeSettings();
  reload();
});

// ---------- the stream ----------

const stream = new StreamClient({
  onLines: (lines) => receive(lines),
  onGap: (data, id) => onGap(data, id),
  onSource: (data, id) => onSourceEvent(data, id),
  onState: (state) => {
    if (state === "live") reconnectDelay = 500;
    updateStatus();
  },
  onClosed: () => recover(),
});

function streamQuery({ resume }) {
  const params = filterParams(new URLSearchParams());
  if (!resume) {
    const since = resolveSince(settings.since);
    // With a start time, every line since then (up to the cap); else the newest `tail`.
    params.set("tail", String(since ? settings.cap : settings.tail));
    if (since) params.set("since", since);
  } else {
    params.set("tail", "0");
  }
  return params;
}

/** Check the filter with the server (400 for a bad RE2 pattern, 401 when a login is needed). */
async function checkServerFilter() {
  serverRejectedGrep = false;
  showFilterError(filter.error ? "Filter: " + filter.error : "");
  if (!filter.grep) return;
  const params = filterParams(new URLSearchParams());
  params.set("limit", "1");
  const response = await api("api/lines?" + params.toString());
  if (response.status === 400) {
    let detail = "invalid filter";
    try {
      detail = (await response.json()).detail || detail;
    } catch {
      /* keep default */
    }
    serverRejectedGrep = true;
    showFilterError(`Server: ${detail} (filtering in the browser only)`);
  }
}

/** Start from scratch: empty the store and open the stream with backfill. */
async function reload() {
  const generation = ++connectGeneration;
  clearTimeout(reconnectTimer);
  stream.close();
  vp.beforeChange();
  store.clear();
  store.maxId = 0;
  view.clear();
  held = [];
  incoming = [];
  spans = [];
  openSpan = null;
  resync = null;
  olderState = "idle";
  newWhileScrolled = 0;
  vp.follow = true;
  vp.changed(0);
  updateJump();
  try {
    await checkServerFilter();
  } catch (error) {
    return handleFailure(error);
  }
  if (generation !== connectGeneration) return;
  streamFilterKey = serverKey();
  if (streamFilterKey !== UNFILTERED) openSpan = { lo: -Infinity, hi: Infinity, keys: new Set([streamFilterKey]) };
  stream.open(streamQuery({ resume: false }));
  updateStatus();
}

/** Reopen the stream after where it stopped (new server filter, or after an HTTP error). */
function resume() {
  const from = stream.lastEventId || (store.maxId ? String(store.maxId) : null);
  if (!from) return reload();
  const key = serverKey();
  if (key !== streamFilterKey) {
    // Lines from here on arrive through the new filter; earlier filtered ranges are refilled.
    const at = Number(from);
    if (openSpan) {
      openSpan.hi = at;
      spans.push(openSpan);
      openSpan = null;
    }
    streamFilterKey = key;
    if (key !== UNFILTERED) openSpan = { lo: at, hi: Infinity, keys: new Set([key]) };
    refillSpans();
  }
  stream.open(streamQuery({ resume: true }), from);
}

/** The EventSource gave up (HTTP error, or the browser stopped retrying). */
function recover() {
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(recoverNow, reconnectDelay);
  reconnectDelay = Math.min(reconnectDelay * 2, 10000);
}

async function recoverNow() {
  const generation = connectGeneration;
  try {
    await loadSources();
    await checkServerFilter();
  } catch (error) {
    if (generation !== connectGeneration) return;
    return handleFailure(error);
  }
  if (generation !== connectGeneration) return;
  resume();
}

function handleFailure(error) {
  if (error instanceof AuthRequired) {
    stream.close();
    showLogin(error.mode, loggedIn ? "Your session expired. Sign in again." : "");
    return;
  }
  setNotice(`Sidecar unreachable (${error.message}); retrying in ${Math.round(reconnectDelay / 1000)} s`);
  connState = "offline";
  updateStatus();
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(() => {
    connState = null;
    if (store.maxId || stream.lastEventId) recoverNow();
    else start();
  }, reconnectDelay);
  reconnectDelay = Math.min(reconnectDelay * 2, 10000);
}
let connState = null; // overrides the stream state in the status bar (offline, login)

// ---------- receiving ----------

function receive(raw) {
  const lines = raw.map(makeLine);
  rateCount += lines.length;
  if (resync) {
    pushAll(resync.pending, lines); // held until the restart resync has run
    return;
  }
  deliver(lines);
}

function deliver(lines) {
  if (!lines.length) return;
  if (paused) {
    pushAll(held, lines);
    if (held.length > store.cap) held.splice(0, held.length - store.cap);
    updateStatus();
    return;
  }
  pushAll(incoming, lines);
  scheduleFlush();
}

/** Append without spreading: a spread of 100,000+ items overflows the call stack. */
function pushAll(target, items) {
  for (let i = 0; i < items.length; i++) target.push(items[i]);
}

function scheduleFlush() {
  if (flushQueued) return;
  flushQueued = true;
  requestAnimationFrame(flush);
}

/** Once per frame: move received lines into the store and the view. */
function flush() {
  flushQueued = false;
  if (!incoming.length) return;
  const batch = incoming;
  incoming = [];
  vp.beforeChange();
  const oldLength = view.rows.length;
  const { appended, inserted } = store.add(batch);
  let from = oldLength;
  if (inserted) {
    view.rebuild(store, filter);
    from = 0;
  } else {
    const added = view.append(appended, filter);
    if (!vp.follow) newWhileScrolled += added;
  }
  const boundary = store.evict();
  if (boundary !== null) {
    view.dropThrough(boundary);
    from = 0;
    if (olderState !== "loading") olderState = "done"; // at the cap: do not load older lines
  }
  vp.changed(from);
  updateStatus();
  updateJump();
}

function addMarker(afterId, kind, text) {
  const marker = makeMarker(store, afterId || store.maxId, kind, text);
  if (!marker) return;
  incoming.push(marker);
  scheduleFlush();
}

function onGap(data, id) {
  const missed = data.missed;
  if (typeof missed === "number") gapsTotal += missed;
  const where = data.source ? ` from ${data.source}` : "";
  if (data.reason === "restart") {
    addMarker(store.maxId, "restart", "sidecar restarted: stream resumed (lines already shown are skipped)");
    startResync();
    setNotice("Sidecar restarted; reconnected");
  } else {
    const count = typeof missed === "number" ? `${nf.format(missed)} lines` : "some lines";
    const why = { "slow-client": "the browser fell behind", evicted: "they left the sidecar's buffer" }[data.reason] || data.reason;
    addMarker(store.maxId, "gap", `gap: ${count} missed${where} (${why})`);
    setNotice(`Gap: ${count} missed${where}`);
  }
  updateStatus();
}

function onSourceEvent(data, id) {
  const change = data.change || "changed";
  const text = `${data.source}: ${change}${data.error ? " (" + data.error + ")" : ""}`;
  setNotice(text);
  if (change !== "added") addMarker(store.maxId, "source", text);
  if (["added", "removed", "error", "ended", "reconnected", "restarted"].includes(change)) {
    loadSources().catch(() => {});
  }
}

// After a sidecar restart, ids start afresh and the new process does not resume the old
// stream (it sends a `restart` gap and then only new lines). It has re-read the end of each
// file, though, so the lines written while it was down are in its buffer, together with
// lines the page already shows. The page fetches that buffer and, per source, drops
// everything up to and including the last line it already held (confirmed by up to 20
// preceding lines); the rest is new. A source whose last line is not found is shown whole.
function startResync() {
  const perSource = new Map();
  for (const source of new Set(store.lines.filter((l) => !l.marker).map((l) => l.source))) {
    const tail = store.tailTexts(source, 2000);
    if (tail.length) perSource.set(source, { tail, buf: [], done: false });
  }
  const state = { perSource, pending: [] };
  resync = state;
  fetchAfterRestart(state);
}

async function fetchAfterRestart(state) {
  let raw = [];
  try {
    const params = filterParams(new URLSearchParams());
    params.set("limit", String(FILL_PAGE));
    const response = await api("api/lines?" + params.toString());
    if (response.ok) raw = (await response.json()).lines || [];
  } catch {
    /* show what the stream sends */
  }
  if (resync !== state) return;
  resync = null;
  const fetched = raw.map(makeLine);
  const kept = resyncFilter(state, fetched);
  for (const st of state.perSource.values()) if (!st.done) pushAll(kept, st.buf); // no overlap found: all new
  const lastFetched = fetched.length ? fetched[fetched.length - 1].id : 0;
  const live = state.pending.filter((line) => line.id > lastFetched);
  kept.sort((a, b) => a.id - b.id);
  deliver(kept.concat(live));
}

function resyncFilter(state, lines) {
  const out = [];
  for (const line of lines) {
    const st = state.perSource.get(line.source);
    if (!st || st.done) {
      out.push(line);
      continue;
    }
    st.buf.push(line);
    const k = st.buf.length - 1;
    const tail = st.tail;
    if (line.text === tail[tail.length - 1]) {
      const context = Math.min(k, tail.length - 1, 20);
      let ok = true;
      for (let j = 1; j <= context && ok; j++) ok = st.buf[k - j].text === tail[tail.length - 1 - j];
      if (ok) {
        st.done = true;
        st.buf = [];
      }
    }
  }
  return out;
}

// ---------- older lines and filtered ranges ----------

async function loadOlder() {
  if (olderState !== "idle" || paused || !store.lines.length || store.count >= store.cap) return;
  const first = store.firstId;
  if (first === null) return;
  olderState = "loading";
  const generation = connectGeneration;
  try {
    const params = filterParams(new URLSearchParams());
    params.set("before", String(first));
    params.set("limit", String(Math.min(OLDER_PAGE, store.cap - store.count)));
    const response = await api("api/lines?" + params.toString());
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    if (generation !== connectGeneration) return;
    const lines = (body.lines || []).map(makeLine);
    const key = serverKey();
    if (key !== UNFILTERED && lines.length) spans.push({ lo: body.more ? lines[0].id - 1 : -Infinity, hi: first - 1, keys: new Set([key]) });
    vp.beforeChange();
    const kept = store.prepend(lines);
    if (!body.more || !kept.length) {
      const marker = makeMarker(store, (store.lines[0]?.id ?? first) - 1, "info", "start of the lines the sidecar holds");
      if (marker) store.prepend([marker]);
    }
    view.rebuild(store, filter);
    vp.changed(0);
    olderState = body.more && kept.length ? "idle" : "done";
    updateStatus();
  } catch (error) {
    olderState = "idle";
    if (error instanceof AuthRequired) handleFailure(error);
  }
}

/** Fetch the lines of filtered ranges that the current (different) filter also keeps. */
async function refillSpans() {
  const key = serverKey();
  const generation = connectGeneration;
  const todo = spans.filter((span) => !span.keys.has(key));
  for (const span of todo) {
    let after = Number.isFinite(span.lo) ? span.lo : (store.firstId ?? 1) - 1;
    try {
      for (let pages = 0; pages < 50 && store.count < store.cap; pages++) {
        const params = filterParams(new URLSearchParams());
        params.set("after", String(after)); // the API takes before or after, not both
        params.set("limit", String(FILL_PAGE));
        const response = await api("api/lines?" + params.toString());
        if (!response.ok || generation !== connectGeneration) return;
        const body = await response.json();
        const page = body.lines || [];
        const lines = page.map(makeLine).filter((l) => !Number.isFinite(span.hi) || l.id <= span.hi);
        if (lines.length) {
          vp.beforeChange();
          store.add(lines);
          view.rebuild(store, filter);
          vp.changed(0);
          after = lines[lines.length - 1].id;
        }
        if (!body.more || lines.length < page.length) break;
      }
    } catch {
      return;
    }
    if (key === UNFILTERED) spans = spans.filter((s) => s !== span);
    else span.keys.add(key);
  }
  updateStatus();
}

// ---------- filter and view controls ----------

function applyFilter() {
  filter = compileFilter({ text: settings.q, regex: settings.re, matchCase: settings.case, level: settings.level });
  rowContext.filter = filter;
  $("filter").classList.toggle("invalid", Boolean(filter.error));
  showFilterError(filter.error ? "Filter: " + filter.error : "");
  vp.beforeChange();
  view.rebuild(store, filter);
  vp.changed(0);
  vp.redraw();
  writeSettings();
  updateStatus();
  clearTimeout(serverFilterTimer);
  serverFilterTimer = setTimeout(applyServerFilter, SERVER_FILTER_DELAY);
}

async function applyServerFilter() {
  if (connState === "login") return;
  try {
    await checkServerFilter();
  } catch (error) {
    return handleFailure(error);
  }
  if (serverKey() !== streamFilterKey) resume();
}

function showFilterError(text) {
  const el = $("filter-error");
  el.textContent = text;
  el.hidden = !text;
}

let filterInputTimer = 0;
$("filter").value = settings.q;
$("filter").addEventListener("input", (e) => {
  clearTimeout(filterInputTimer);
  filterInputTimer = setTimeout(() => {
    settings.q = e.target.value;
    applyFilter();
  }, 120);
});
$("filter").addEventListener("keydown", (e) => {
  if (e.key === "Escape" && e.target.value) {
    e.target.value = "";
    settings.q = "";
    applyFilter();
  }
});

function bindToggle(id, key, onChange) {
  const el = $(id);
  el.setAttribute("aria-pressed", String(settings[key]));
  el.addEventListener("click", () => {
    settings[key] = !settings[key];
    el.setAttribute("aria-pressed", String(settings[key]));
    onChange();
  });
}
bindToggle("regex", "re", applyFilter);
bindToggle("case", "case", applyFilter);

$("level").value = settings.level;
$("level").addEventListener("change", (e) => {
  settings.level = e.target.value;
  applyFilter();
});

function bindCheck(id, key, onChange) {
  const el = $(id);
  el.checked = settings[key];
  el.addEventListener("change", () => {
    settings[key] = el.checked;
    writeSettings();
    onChange();
  });
}

function applyView() {
  log.classList.toggle("no-ts", !settings.ts);
  log.classList.toggle("wrap", settings.wrap);
  rowContext.expandJson = settings.json;
  rowContext.ansi = settings.ansi;
  vp.configure({ wrap: settings.wrap, expandJson: settings.json });
  vp.measureFont();
}
bindCheck("opt-ts", "ts", applyView);
bindCheck("opt-wrap", "wrap", applyView);
bindCheck("opt-json", "json", applyView);
bindCheck("opt-ansi", "ansi", applyView);

function bindNumber(id, key, min, max, onChange) {
  const el = $(id);
  el.value = String(settings[key]);
  el.addEventListener("change", () => {
    const value = clampInt(el.value, min, max, settings[key]);
    el.value = String(value);
    if (value === settings[key]) return;
    settings[key] = value;
    writeSettings();
    onChange();
  });
}
bindNumber("opt-tail", "tail", 0, 1_000_000, () => reload());
bindNumber("opt-cap", "cap", 1000, 1_000_000, () => {
  store.cap = settings.cap;
  vp.beforeChange();
  const boundary = store.evict(true);
  if (boundary !== null) view.dropThrough(boundary);
  vp.changed(0);
  updateStatus();
});

$("opt-since").value = settings.since;
$("opt-since").addEventListener("change", (e) => {
  const value = e.target.value.trim();
  if (resolveSince(value) === null) {
    e.target.setCustomValidity("Use 15m, 2h, 1d or a time such as 2024-05-01T10:00:00Z");
    e.target.reportValidity();
    return;
  }
  e.target.setCustomValidity("");
  settings.since = value;
  writeSettings();
  reload();
});

function applyTheme() {
  if (settings.theme) document.documentElement.dataset.theme = settings.theme;
  else delete document.documentElement.dataset.theme;
}
$("opt-theme").value = settings.theme;
$("opt-theme").addEventListener("change", (e) => {
  settings.theme = e.target.value;
  writeSettings();
  applyTheme();
});

$("pause").addEventListener("click", () => setPaused(!paused));

function setPaused(on) {
  paused = on;
  $("pause").setAttribute("aria-pressed", String(on));
  $("pause").textContent = on ? "Resume" : "Pause";
  if (!on && held.length) {
    pushAll(incoming, held);
    held = [];
    scheduleFlush();
  }
  updateStatus();
}

$("clear").addEventListener("click", () => {
  vp.beforeChange();
  store.clear();
  view.clear();
  held = [];
  incoming = [];
  spans = [];
  if (openSpan) openSpan.lo = store.maxId;
  olderState = "done"; // "clear" means: from now on; do not reload what was cleared
  newWhileScrolled = 0;
  vp.follow = true;
  vp.changed(0);
  updateJump();
  updateStatus();
});

$("jump").addEventListener("click", () => {
  vp.setFollow(true);
  log.focus({ preventScroll: true });
});

$("download").addEventListener("click", () => {
  const showSource = !log.classList.contains("no-src");
  const parts = [];
  for (const line of view.rows) {
    if (line.marker) continue;
    let text = line.plain;
    if (showSource) text = `${line.source} ${text}`;
    if (settings.ts) text = `${isoTime(line.time)} ${text}`;
    parts.push(text, "\n");
  }
  const blob = new Blob(parts, { type: "text/plain;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  a.href = url;
  a.download = `log-sidecar-${stamp}.log`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});

// Close one menu when another opens or on a click outside.
for (const menu of document.querySelectorAll("details.menu")) {
  menu.addEventListener("toggle", () => {
    if (menu.open) for (const other of document.querySelectorAll("details.menu[open]")) if (other !== menu) other.open = false;
  });
}
document.addEventListener("click", (e) => {
  for (const menu of document.querySelectorAll("details.menu[open]")) if (!menu.contains(e.target)) menu.open = false;
});
document.addEventListener("keydown", (e) => {
  const typing = e.target.closest("input, select, textarea, [contenteditable]");
  if (e.key === "/" && !typing) {
    e.preventDefault();
    $("filter").focus();
    $("filter").select();
  } else if (e.key === "Escape") {
    for (const menu of document.querySelectorAll("details.menu[open]")) menu.open = false;
  }
});

// ---------- status ----------

function setNotice(text) {
  $("notice").textContent = text;
  $("notice").title = text;
}

function updateJump() {
  const show = !vp.follow && view.rows.length > 0;
  $("jump").hidden = !show;
  $("jump-count").textContent = newWhileScrolled ? `(${nf.format(newWhileScrolled)} new)` : "";
}

let statusQueued = false;
function updateStatus() {
  if (statusQueued) return;
  statusQueued = true;
  requestAnimationFrame(renderStatus);
}

function renderStatus() {
  statusQueued = false;
  const conn = $("conn");
  let state = connState || stream.state;
  let label = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…", idle: "disconnected", offline: "offline", login: "sign-in required" }[state] || state;
  if (paused && state === "live") {
    state = "paused";
    label = held.length ? `paused · ${nf.format(held.length)} new` : "paused";
  }
  conn.dataset.state = state;
  conn.textContent = label;
  const shown = view.rows.length - countMarkers();
  $("counts").textContent = filter.active
    ? `${nf.format(shown)} of ${nf.format(store.count)} lines`
    : `${nf.format(store.count)} lines`;
  $("counts").title = `Keeps at most ${nf.format(store.cap)} lines; ${nf.format(store.evicted)} evicted`;
  $("gaps").hidden = gapsTotal === 0;
  $("gaps").textContent = `${nf.format(gapsTotal)} missed`;
  const empty = $("empty");
  if (view.rows.length) empty.hidden = true;
  else {
    empty.hidden = false;
    empty.textContent = connState === "login" ? "Sign in to see the logs."
      : store.count && filter.active ? "No loaded line matches the filter."
      : stream.state === "live" ? "Waiting for log lines…" : "Connecting…";
  }
}

let markerCount = { rows: null, n: 0 };
function countMarkers() {
  // markers are few; count them only when the row array changed
  if (markerCount.rows === view.rows && markerCount.len === view.rows.length) return markerCount.n;
  let n = 0;
  for (const line of view.rows) if (line.marker) n++;
  markerCount = { rows: view.rows, len: view.rows.length, n };
  return n;
}

setInterval(() => {
  $("rate").textContent = `${nf.format(rateCount)} lines/s`;
  rateCount = 0;
}, 1000);

// ---------- auth ----------

function showLogin(mode, message = "") {
  authMode = mode;
  connState = "login";
  updateStatus();
  const basic = mode === "basic";
  $("login-user").hidden = !basic;
  $("login-user-label").hidden = !basic;
  $("login-user").required = basic;
  $("login-secret-label").textContent = basic ? "Password" : "Token";
  $("login-hint").textContent = message || (basic ? "This sidecar requires a user name and password." : "This sidecar requires an access token.");
  $("login-error").textContent = "";
  const dialog = $("login");
  if (!dialog.open) dialog.showModal();
  (basic ? $("login-user") : $("login-secret")).focus();
}

function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const secret = $("login-secret").value;
  const header = authMode === "basic" ? "Basic " + base64Utf8(`${$("login-user").value}:${secret}`) : "Bearer " + secret;
  $("login-submit").disabled = true;
  try {
    const response = await fetch("api/login", {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { Authorization: header, "X-Requested-With": "log-sidecar-viewer" },
    });
    if (response.ok) {
      $("login-secret").value = ""; // the secret is not kept anywhere
      $("login").close();
      loggedIn = true;
      connState = null;
      $("logout").hidden = false;
      start();
    } else if (response.status === 401 || response.status === 403) {
      $("login-error").textContent = authMode === "basic" ? "Wrong user name or password." : "Wrong token.";
    } else if (response.status === 429) {
      $("login-error").textContent = "Too many attempts; wait a moment.";
    } else {
      $("login-error").textContent = `Sign-in failed (HTTP ${response.status}).`;
    }
  } catch (error) {
    $("login-error").textContent = `Sign-in failed: ${error.message}`;
  } finally {
    $("login-submit").disabled = false;
  }
});
$("login").addEventListener("cancel", (e) => e.preventDefault()); // nothing to show without signing in

$("logout").addEventListener("click", async () => {
  try {
    await fetch("api/logout", { method: "POST", credentials: "same-origin", headers: { "X-Requested-With": "log-sidecar-viewer" } });
  } catch {
    /* signed out locally anyway */
  }
  stream.close();
  loggedIn = false;
  $("logout").hidden = true;
  showLogin(authMode || "bearer", "Signed out.");
});

// ---------- start ----------

async function start() {
  try {
    await loadSources();
  } catch (error) {
    return handleFailure(error);
  }
  reconnectDelay = 500;
  connState = null;
  if (authMode) $("logout").hidden = false;
  reload();
}

applyTheme();
applyView();
writeSettings();
start();

// Read-only handle for tests and debugging in the console.
window.logViewer = {
  get store() { return store; },
  get view() { return view; },
  get viewport() { return vp; },
  get stream() { return stream; },
  texts: () => store.lines.filter((l) => !l.marker).map((l) => l.text),
  shownTexts: () => view.rows.filter((l) => !l.marker).map((l) => l.text),
  renderedRows: () => vp.renderedCount,
  state: () => ({ conn: connState || stream.state, paused, follow: vp.follow, count: store.count, shown: view.rows.length - countMarkers() }),
};
