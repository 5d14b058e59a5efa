// Status and notices: the status bar (connection, counts, rate), the notice line, the
// empty-state text and the "jump to latest" button. Rendered at most once per frame.

import { shortTime } from "./time.js";

const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat();

const LABELS = {
  live: "live", connecting: "connecting…", reconnecting: "reconnecting…", idle: "disconnected",
  offline: "offline", login: "sign-in required",
};

export class Status {
  constructor(v) {
    this.v = v;
    this.queued = false;
    this.rateCount = 0;
    this.liveTotal = 0; // live lines received (the meter never counts backfill or fetched-back lines)
    this.event = null; // {kind, text}: the last thing that happened to the stream, until dismissed
    this.wasLive = false;
    this.downSince = 0; // when the stream stopped being live (seconds), 0 while live
    $("banner-close").addEventListener("click", () => {
      this.event = null;
      this.renderBanner();
    });
    setInterval(() => {
      $("rate").textContent = `${nf.format(this.rateCount)} lines/s`;
      this.rateCount = 0;
    }, 1000);
  }

  notice(text) {
    $("notice").textContent = text;
    $("notice").title = text;
  }

  filterError(text) {
    const el = $("filter-error");
    el.textContent = text;
    el.hidden = !text;
  }

  /** Count live lines for the lines/s meter. */
  countRate(n) {
    this.rateCount += n;
    this.liveTotal += n;
  }

  /** Something the user must not miss (a gap, a restart, a rotation): shown in the banner. */
  announce(kind, text) {
    this.event = { kind, text };
    this.renderBanner();
  }

  /** The time of the newest line held, for "last line 12:03:04". */
  lastLineTime() {
    const lines = this.v.store.lines;
    for (let i = lines.length - 1; i >= 0; i--) if (!lines[i].marker) return lines[i].time;
    return 0;
  }

  /** Track live -> not live -> live, so the banner can say when the stream broke and for how long. */
  trackConnection(state) {
    const now = Date.now() / 1000;
    if (state === "live") {
      if (this.downSince) {
        const secs = Math.max(1, Math.round(now - this.downSince));
        this.announce("info", `Reconnected at ${shortTime(now)} after ${secs} s without the stream`);
      }
      this.downSince = 0;
      this.wasLive = true;
    } else if (this.wasLive && !this.downSince && state !== "idle" && state !== "login") {
      this.downSince = now;
    }
  }

  renderBanner() {
    const v = this.v;
    const banner = $("banner");
    let kind = null;
    let text = "";
    if (this.downSince && v.connState !== "login") {
      const last = this.lastLineTime();
      kind = "error";
      text = `Disconnected from the sidecar at ${shortTime(this.downSince)}: reconnecting…` + (last ? ` Last line ${shortTime(last)}.` : "");
    } else if (this.event) {
      ({ kind, text } = this.event);
    }
    banner.hidden = !kind;
    if (!kind) return;
    banner.dataset.kind = kind;
    $("banner-text").textContent = text;
    $("banner-close").hidden = Boolean(this.downSince);
  }

  updateJump() {
    const v = this.v;
    $("jump").hidden = v.vp.follow || v.view.rows.length === 0;
    $("jump-count").textContent = v.newWhileScrolled ? `(${nf.format(v.newWhileScrolled)} new)` : "";
  }

  update() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => this.render());
  }

  render() {
    this.queued = false;
    const v = this.v;
    const stream = v.controller.stream;
    const conn = $("conn");
    let state = v.connState || stream.state;
    this.trackConnection(state === "offline" ? "reconnecting" : state);
    this.renderBanner();
    let label = LABELS[state] || state;
    if (v.paused && state === "live") {
      state = "paused";
      label = v.held.length ? `paused · ${nf.format(v.held.length)} new` : "paused";
    }
    conn.dataset.state = state;
    conn.textContent = label;
    const shown = v.view.shownCount;
    $("counts").textContent = v.filter.active
      ? `${nf.format(shown)} of ${nf.format(v.store.count)} lines`
      : `${nf.format(v.store.count)} lines`;
    $("counts").title = `Keeps at most ${nf.format(v.store.cap)} lines; ${nf.format(v.store.evicted)} evicted`;
    v.search.render();
    v.histogram?.changed();
    $("gaps").hidden = v.gapsTotal === 0;
    $("gaps").textContent = `${nf.format(v.gapsTotal)} missed`;
    const empty = $("empty");
    if (v.view.rows.length) empty.hidden = true;
    else {
      empty.hidden = false;
      empty.textContent = this.emptyText(stream.state);
    }
  }

  /** What an empty log area says: what is followed, or why nothing is shown. */
  emptyText(streamState) {
    const v = this.v;
    if (v.connState === "login") return "Sign in to see the logs.";
    const what = [v.settings.q && `"${v.settings.q}"`, v.settings.level && `level ${v.settings.level}+`, ...v.settings.field].filter(Boolean).join(", ") || "the filter";
    if (v.store.count && v.filter.active) {
      return `No line matches ${what} among the ${nf.format(v.store.count)} lines loaded. Press Esc in the search box to clear it.`;
    }
    if (streamState !== "live") return "Connecting…";
    const names = v.sourcePicker.shown();
    if (!names.length) return "No sources yet: waiting for files or containers to follow.";
    const list = names.length > 4 ? `${names.slice(0, 4).join(", ")} and ${names.length - 4} more` : names.join(", ");
    // A filter the server applies leaves the store empty: say that nothing matched, not that nothing came.
    if (v.filter.active) return `Following ${list}: no line matches ${what} yet. Press Esc in the search box to clear it.`;
    return `Following ${list}: waiting for lines.`;
  }
}
