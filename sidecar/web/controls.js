// Controls: the filter box, level, view options, pause/clear/jump/download, menus and keys.
// Each control changes `v.settings`, mirrors it into the URL and tells the controller.

import { clampInt, resolveSince, writeSettings } from "./settings.js";
import { compileSettingsFilter } from "./state.js";
import { isoTime } from "./render.js";

const $ = (id) => document.getElementById(id);
const SERVER_FILTER_DELAY = 400;

export function bindControls(v) {
  const { settings } = v;
  const log = $("log");
  let serverFilterTimer = 0;

  function applyFilter() {
    v.filter = compileSettingsFilter(settings);
    v.rowContext.filter = v.filter;
    $("filter").classList.toggle("invalid", Boolean(v.filter.error));
    v.status.filterError(v.filter.error ? "Filter: " + v.filter.error : "");
    v.vp.beforeChange();
    v.view.rebuild(v.store, v.filter);
    v.vp.changed(0);
    v.vp.redraw();
    writeSettings(settings);
    v.status.update();
    clearTimeout(serverFilterTimer);
    serverFilterTimer = setTimeout(() => v.controller.applyServerFilter(), SERVER_FILTER_DELAY);
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
      writeSettings(settings);
      onChange();
    });
  }

  function applyView() {
    log.classList.toggle("no-ts", !settings.ts);
    log.classList.toggle("wrap", settings.wrap);
    v.rowContext.expandJson = settings.json;
    v.rowContext.ansi = settings.ansi;
    v.vp.configure({ wrap: settings.wrap, expandJson: settings.json });
    v.vp.measureFont();
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
      writeSettings(settings);
      onChange();
    });
  }
  bindNumber("opt-tail", "tail", 0, 1_000_000, () => v.controller.reload());
  bindNumber("opt-cap", "cap", 1000, 1_000_000, () => {
    v.store.cap = settings.cap;
    v.vp.beforeChange();
    const boundary = v.store.evict(true);
    if (boundary !== null) v.view.dropThrough(boundary);
    v.vp.changed(0);
    v.status.update();
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
    writeSettings(settings);
    v.controller.reload();
  });

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

  $("pause").addEventListener("click", () => setPaused(!v.paused));
  function setPaused(on) {
    $("pause").setAttribute("aria-pressed", String(on));
    $("pause").textContent = on ? "Resume" : "Pause";
    v.controller.setPaused(on);
  }

  $("clear").addEventListener("click", () => v.controller.clear());

  $("jump").addEventListener("click", () => {
    v.vp.setFollow(true);
    log.focus({ preventScroll: true });
  });

  $("download").addEventListener("click", () => downloadShown(v, log));

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

  applyTheme();
  applyView();
}

/** The rows shown (filtered) as a text file. */
function downloadShown(v, log) {
  const showSource = !log.classList.contains("no-src");
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
