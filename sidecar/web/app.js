// log-sidecar viewer: builds the pieces and wires them together.
//
//   settings.js   URL state and settings          api.js      API client and auth requests
//   controller.js stream, resync and fetch-back    store.js    LineStore + FilteredView
//   viewport.js   virtual list (visible rows)      render.js   one row's DOM, text only
//   controls.js   toolbar, menus and keys          status.js   status bar, notices
//   sources.js    source picker                    auth.js     sign-in dialog, Log out
//
// Data flow: EventSource batches -> controller (pause buffer, one flush per frame)
// -> LineStore -> FilteredView -> VirtualLog.

import { AuthUI } from "./auth.js";
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
};
v.vp = new VirtualLog(document.getElementById("log"), {
  view: v.view,
  buildRow: (line) => buildRow(line, v.rowContext),
  onNearTop: () => v.controller.loadOlder(),
  onFollowChange: (on) => {
    if (on) v.newWhileScrolled = 0;
    v.status.updateJump();
  },
  onToggle: (line) => {
    if (!line.json) return;
    line.expanded = !(line.expanded ?? v.settings.json);
    v.vp.invalidateLine(line);
  },
});
v.controller = new StreamController(v);
v.auth = new AuthUI(v);
bindControls(v);
writeSettings(v.settings);
v.controller.start();

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
  idle: () => v.controller.recovering === 0 && !v.controller.refilling,
  state: () => ({ conn: v.connState || v.controller.stream.state, paused: v.paused, follow: v.vp.follow, count: v.store.count, shown: v.view.shownCount }),
};
