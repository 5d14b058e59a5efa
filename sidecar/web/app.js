// log-sidecar viewer: builds the pieces and wires them together.
//
//   settings.js   URL state and settings          api.js      API client and auth requests
//   controller.js stream, resync and fetch-back    store.js    LineStore + FilteredView
//   viewport.js   virtual list (visible rows)      render.js   one row's DOM, text only
//   controls.js   toolbar, menus and keys          status.js   status bar, notices
//   sources.js    source picker                    auth.js     sign-in dialog, Log out
//   search.js     match count, next/previous       actions.js  copy, permalink, context
//   fields.js     field columns and filters        keys.js     keyboard shortcuts
//   recovery.js   fetch-back of gaps               time.js     local/UTC times
//
// Data flow: EventSource batches -> controller (pause buffer, one flush per frame)
// -> LineStore -> FilteredView -> VirtualLog.

import { Actions } from "./actions.js";
import { AuthUI } from "./auth.js";
import { Fields } from "./fields.js";
import { Histogram } from "./histogram.js";
import { bindKeys } from "./keys.js";
import { Search } from "./search.js";
import { bindControls } from "./controls.js";
import { StreamController } from "./controller.js";
import { buildRow } from "./render.js";
import { readSettings, writeSettings } from "./settings.js";
import { SourcePicker } from "./sources.js";
import { createState } from "./state.js";
import { Status } from "./status.js";
import { VirtualLog } from "./viewport.js";

const v = createState(readSettings());
v.status = new Status(v);
v.sourcePicker = new SourcePicker(v);
v.rowContext = {
  filter: v.filter,
  expandJson: v.settings.json,
  ansi: v.settings.ansi,
  sourceClass: (source) => "c" + v.sourcePicker.colourIndex(source),
  showTs: v.settings.ts,
  currentId: null,
  fieldColumns: [],
  entrySize: (line) => v.store.entrySizes.get(line.id) ?? 0,
  entryOpen: (line) => v.view.openEntries.has(line.id),
};
v.vp = new VirtualLog(document.getElementById("log"), {
  view: v.view,
  buildRow: (line) => buildRow(line, v.rowContext),
  onNearTop: () => v.controller.loadOlder(),
  onFollowChange: (on) => {
    if (on) v.newWhileScrolled = 0;
    v.status.updateJump();
  },
  fieldColumns: () => v.rowContext.fieldColumns.length,
  onAction: (line, button) => v.actions.onAction(line, button),
  onToggle: (line) => {
    if (!line.json) return;
    line.expanded = !(line.expanded ?? v.settings.json);
    v.vp.invalidateLine(line);
  },
});
v.controller = new StreamController(v);
v.auth = new AuthUI(v);
v.search = new Search(v);
v.actions = new Actions(v);
v.fields = new Fields(v);
bindControls(v);
v.histogram = new Histogram(v);
bindKeys(v);
writeSettings(v.settings);
v.controller.start().then(() => v.actions.openPermalink());
window.addEventListener("hashchange", () => v.actions.openPermalink());

// Read-only handle for tests and debugging in the console.
window.logViewer = {
  get store() { return v.store; },
  get view() { return v.view; },
  get viewport() { return v.vp; },
  get stream() { return v.controller.stream; },
  texts: () => v.store.lines.filter((l) => !l.marker).map((l) => l.text),
  shownTexts: () => v.view.rows.filter((l) => !l.marker).map((l) => l.text),
  renderedRows: () => v.vp.renderedCount,
  markers: () => v.store.lines.filter((l) => l.marker).map((l) => ({ kind: l.kind, text: l.text })),
  gapEvents: () => v.gapLog.slice(),
  liveLines: () => v.status.liveTotal,
  lastCopied: () => v.actions.lastCopied,
  currentId: () => v.currentId,
  idle: () => v.controller.recovering === 0 && !v.controller.refilling,
  state: () => ({ conn: v.connState || v.controller.stream.state, paused: v.paused, follow: v.vp.follow, count: v.store.count, shown: v.view.shownCount }),
};
