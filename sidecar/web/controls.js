// Controls: the toolbar (sources are in sources.js), the View and Time menus, pause, clear,
// jump and download. Each control changes `v.settings`, mirrors it into the URL and tells
// the controller or the viewport.

import { clampInt, resolveSince, writeSettings } from "./settings.js";
import { compileSettingsFilter } from "./state.js";
import { isoTime, isUtc, setUtc, zoneName } from "./time.js";

const $ = (id) => document.getElementById(id);
const SERVER_FILTER_DELAY = 400;

export function bindControls(v) {
  const { settings } = v;
  const log = $("log");
  let serverFilterTimer = 0;

  /** Recompile the filter, rebuild the view now, and the server side of it a little later. */
  v.applyFilter = function applyFilter() {
    v.filter = compileSettingsFilter(settings);
    v.rowContext.filter = v.filter;
    for (const line of v.store.lines) if (line.context) line.context = false; // context belongs to one search
    $("filter").closest(".filter").classList.toggle("invalid", Boolean(v.filter.error));
    v.status.filterError(v.filter.error ? "Search: " + v.filter.error : v.filter.warning ? `Search: ${v.filter.warning} (filtering in the browser only)` : "");
    v.vp.beforeChange();
    v.view.rebuild(v.store, v.filter);
    v.vp.changed(0);
    v.vp.redraw();
    writeSettings(settings);
    v.status.update();
    v.fields?.renderFilters();
    clearTimeout(serverFilterTimer);
    serverFilterTimer = setTimeout(() => v.controller.applyServerFilter(), SERVER_FILTER_DELAY);
  };
  const applyFilter = v.applyFilter;

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
    } else if (e.key === "Enter") {
      e.preventDefault();
      clearTimeout(filterInputTimer);
      if (settings.q !== e.target.value) {
        settings.q = e.target.value;
        applyFilter();
      }
      v.search.step(e.shiftKey ? -1 : 1);
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
  bindToggle("highlight", "hl", applyFilter);
  v.toggleHighlight = () => $("highlight").click();
  $("prev-match").addEventListener("click", () => v.search.step(-1));
  $("next-match").addEventListener("click", () => v.search.step(1));

  // Level: a segmented control; `fatal` and `trace` still work from the URL.
  const levelButtons = [...document.querySelectorAll(".lvl-btn")];
  function showLevel() {
    for (const b of levelButtons) b.setAttribute("aria-checked", String(b.dataset.level === settings.level));
  }
  for (const b of levelButtons) {
    b.addEventListener("click", () => {
      settings.level = b.dataset.level;
      showLevel();
      applyFilter();
    });
  }
  showLevel();

  function bindCheck(id, key, onChange) {
    const el = $(id);
    el.checked = settings[key];
    el.addEventListener("change", () => {
      settings[key] = el.checked;
      writeSettings(settings);
      onChange();
    });
  }

  v.applyView = function applyView() {
    log.classList.toggle("no-ts", !settings.ts);
    log.classList.toggle("hide-src", !settings.src);
    log.classList.toggle("wrap", settings.wrap);
    v.rowContext.expandJson = settings.json;
    v.rowContext.ansi = settings.ansi;
    v.rowContext.showTs = settings.ts;
    v.vp.configure({ wrap: settings.wrap, expandJson: settings.json });
    v.vp.measureFont();
  };
  bindCheck("opt-ts", "ts", v.applyView);
  bindCheck("opt-src", "src", v.applyView);
  bindCheck("opt-wrap", "wrap", v.applyView);
  bindCheck("opt-json", "json", v.applyView);
  bindCheck("opt-ansi", "ansi", v.applyView);
  v.toggleWrap = () => {
    $("opt-wrap").checked = !$("opt-wrap").checked;
    $("opt-wrap").dispatchEvent(new Event("change"));
  };

  function bindNumber(id, key, min, max, onChange) {
    const el = $(id);
    el.value = String(settings[key]);
    el.addEventListener("change", () => {
      const value = clampInt(el.value, min, max, settings[key]);
      el.value = String(value);
      if (value === settings[key]) return;
      settings[key] = value;
      writeSettings(settings);
      onChange();
    });
  }
  bindNumber("opt-tail", "tail", 0, 1_000_000, () => v.controller.reload());
  bindNumber("opt-ctx", "ctx", 1, 500, () => {});
  bindNumber("opt-cap", "cap", 1000, 1_000_000, () => {
    v.store.cap = settings.cap;
    v.vp.beforeChange();
    const boundary = v.store.evict(true);
    if (boundary !== null) v.view.dropThrough(boundary, v.filter);
    v.vp.changed(0);
    v.status.update();
  });

  bindTimeMenu(v);

  function applyTheme() {
    if (settings.theme) document.documentElement.dataset.theme = settings.theme;
    else delete document.documentElement.dataset.theme;
  }
  $("opt-theme").value = settings.theme;
  $("opt-theme").addEventListener("change", (e) => {
    settings.theme = e.target.value;
    writeSettings(settings);
    applyTheme();
  });

  v.togglePause = () => setPaused(!v.paused);
  $("pause").addEventListener("click", v.togglePause);
  function setPaused(on) {
    $("pause").setAttribute("aria-pressed", String(on));
    $("pause-label").textContent = on ? "Resume" : "Pause";
    $("pause").title = (on ? "Resume following" : "Pause") + " (Space)";
    v.controller.setPaused(on);
  }

  $("clear").addEventListener("click", () => v.controller.clear());

  v.jumpToLatest = () => {
    if (v.paused) setPaused(false);
    v.vp.setFollow(true);
    log.focus({ preventScroll: true });
  };
  $("jump").addEventListener("click", v.jumpToLatest);

  $("download").addEventListener("click", () => downloadShown(v, log));
  $("help").addEventListener("click", () => $("help-sheet").showModal());

  // Close one menu when another opens or on a click outside.
  for (const menu of document.querySelectorAll("details.menu")) {
    menu.addEventListener("toggle", () => {
      if (menu.open) for (const other of document.querySelectorAll("details.menu[open]")) if (other !== menu) other.open = false;
    });
  }
  document.addEventListener("click", (e) => {
    for (const menu of document.querySelectorAll("details.menu[open]")) if (!menu.contains(e.target)) menu.open = false;
  });

  applyTheme();
  v.applyView();
}

/** The Time menu: quick ranges, a start time, and the Local/UTC switch. */
function bindTimeMenu(v) {
  const { settings } = v;
  setUtc(settings.utc);
  const since = $("opt-since");
  const ranges = [...document.querySelectorAll(".range")];

  function label() {
    const s = settings.since;
    const rel = /^(\d+)\s*(s|m|h|d)$/i.exec(s);
    if (!s) return "all held";
    if (rel) return `last ${rel[1]} ${{ s: "s", m: "min", h: "h", d: "d" }[rel[2].toLowerCase()]}`;
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? s : "since " + localInput(d).replace("T", " ").slice(5, 16);
  }
  function localInput(d) {
    const shifted = isUtc() ? d : new Date(d.getTime() - d.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 19);
  }
  function show() {
    $("time-label").textContent = label();
    for (const b of ranges) b.setAttribute("aria-pressed", String(b.dataset.since === settings.since));
    const abs = settings.since && !/^\d+\s*[smhd]$/i.test(settings.since) ? new Date(settings.since) : null;
    since.value = abs && !Number.isNaN(abs.getTime()) ? localInput(abs) : "";
    $("zone-local").setAttribute("aria-checked", String(!isUtc()));
    $("zone-utc").setAttribute("aria-checked", String(isUtc()));
    $("zone-name").textContent = isUtc() ? "UTC" : `local time (${zoneName()})`;
  }
  function setSince(value) {
    settings.since = value;
    writeSettings(settings);
    show();
    document.getElementById("time-menu").open = false;
    v.controller.reload();
  }
  for (const b of ranges) b.addEventListener("click", () => setSince(b.dataset.since));
  since.addEventListener("change", () => {
    if (!since.value) return setSince("");
    const iso = since.value.length === 16 ? since.value + ":00" : since.value;
    const at = isUtc() ? new Date(iso + "Z") : new Date(iso);
    if (Number.isNaN(at.getTime()) || resolveSince(at.toISOString()) === null) return;
    setSince(at.toISOString());
  });
  function setZone(utc) {
    settings.utc = utc;
    setUtc(utc);
    writeSettings(settings);
    show();
    v.vp.redraw(); // times re-rendered in the new zone; widths stay the same
    v.status.update();
  }
  $("zone-local").addEventListener("click", () => setZone(false));
  $("zone-utc").addEventListener("click", () => setZone(true));
  show();
}

/** The rows shown (filtered) as a text file. */
function downloadShown(v, log) {
  const showSource = !log.classList.contains("no-src") && v.settings.src;
  const parts = [];
  for (const line of v.view.rows) {
    if (line.marker) continue;
    let text = line.plain;
    if (showSource) text = `${line.source} ${text}`;
    if (v.settings.ts) text = `${isoTime(line.time)} ${text}`;
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
}
