// The viewer's shared state, in one object passed to every module (no module-level globals).
//
// Data flow: stream (controller.js) -> LineStore (every received line, sorted by id)
// -> FilteredView (what the filter keeps) -> VirtualLog (the visible rows only).

import { compileFilter } from "./filters.js";
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
    auth: null,
    sourcePicker: null,
  };
}

export function compileSettingsFilter(settings) {
  return compileFilter({ text: settings.q, regex: settings.re, matchCase: settings.case, level: settings.level });
}
