// Stream and resync controller: opens the stream, moves what arrives into the store once
// per frame, reconnects, resumes, and fetches from api/lines what the stream alone cannot
// give (older lines on scroll-back, ranges received through a different server filter,
// the sidecar's buffer after a restart).

import { AuthRequired, api, authMode } from "./api.js";
import { shortTime } from "./time.js";
import { key, makeLine, makeMarker } from "./store.js";
import { StreamClient } from "./stream.js";
import { resolveSince } from "./settings.js";
import { pushAll, resyncNew, resyncState } from "./resync.js";
import { evictedAfter, fetchNewest, fetchRange, firstHeldIds } from "./recovery.js";

const nf = new Intl.NumberFormat();
const OLDER_PAGE = 1000;
const FILL_PAGE = 10000;
const UNFILTERED = JSON.stringify([null, null]);

export class StreamController {
  constructor(v) {
    this.v = v;
    this.stream = new StreamClient({
      onLines: (lines) => this.receive(lines),
      onGap: (data, id) => this.onGap(data, id),
      onSource: (data, id) => this.onSourceEvent(data, id),
      onState: (state) => {
        if (state === "live") this.reconnectDelay = 500;
        v.status.update();
      },
      onClosed: () => this.recover(),
    });
    this.incoming = []; // lines waiting for the next frame
    this.flushQueued = false;
    this.serverRejectedGrep = false;
    this.streamFilterKey = null; // grep+level the open stream was asked for
    this.spans = []; // {lo, hi, keys:Set}: id ranges whose lines were received through a server filter
    this.openSpan = null;
    this.olderState = "idle"; // idle | loading | done
    this.reconnectTimer = 0;
    this.reconnectDelay = 500;
    this.resync = null; // after a sidecar restart: per source, drop lines already shown
    this.generation = 0;
    this.recoveries = Promise.resolve(); // fetch-backs run one after the other
    this.recovering = 0; // lines being fetched back now
    this.liveFrom = Infinity; // lines with higher ids were published after the stream opened
  }

  // ---------- query parameters ----------

  filterParams(params = new URLSearchParams(), { grep = true } = {}) {
    const { selected, filter } = this.v;
    if (selected.length) params.set("source", selected.join(","));
    if (grep && filter.grep && !this.serverRejectedGrep) params.set("grep", filter.grep);
    if (filter.level) params.set("level", filter.level);
    for (const f of filter.fields || []) params.append("field", f);
    return params;
  }

  serverKey() {
    const { filter } = this.v;
    const key = [filter.grep && !this.serverRejectedGrep ? filter.grep : null, filter.level];
    if (filter.fields?.length) key.push(filter.fields);
    return JSON.stringify(key);
  }

  streamQuery({ resume }) {
    const settings = this.v.settings;
    const params = this.filterParams();
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
  async checkServerFilter() {
    const { filter, status } = this.v;
    this.serverRejectedGrep = false;
    status.filterError(filter.error ? "Search: " + filter.error : filter.warning ? `Search: ${filter.warning} (filtering in the browser only)` : "");
    if (!filter.grep) return;
    const params = this.filterParams();
    params.set("limit", "1");
    const response = await api("api/lines?" + params.toString());
    if (response.status === 400) {
      let detail = "invalid filter";
      try {
        detail = (await response.json()).detail || detail;
      } catch {
        /* keep default */
      }
      this.serverRejectedGrep = true;
      status.filterError(`Server: ${detail} (filtering in the browser only)`);
    }
  }

  // ---------- connecting ----------

  /** Start from scratch: empty the store and open the stream with backfill. */
  async reload() {
    const v = this.v;
    const generation = ++this.generation;
    this.forget();
    this.olderState = "idle";
    v.newWhileScrolled = 0;
    v.vp.follow = true;
    v.vp.changed(0);
    v.status.updateJump();
    try {
      await v.sourcePicker.load();
      await this.checkServerFilter();
    } catch (error) {
      return this.handleFailure(error);
    }
    if (generation !== this.generation) return;
    // Backfill is what the sources held when the stream opened; only newer lines are live.
    this.liveFrom = Math.max(0, ...v.sources.map((s) => s.last_id ?? 0));
    this.streamFilterKey = this.serverKey();
    if (this.streamFilterKey !== UNFILTERED) this.openSpan = { lo: -Infinity, hi: Infinity, keys: new Set([this.streamFilterKey]) };
    this.stream.open(this.streamQuery({ resume: false }));
    v.status.update();
  }

  /** Reopen the stream after where it stopped (new server filter, or after an HTTP error). */
  resume() {
    const from = this.stream.lastEventId || (this.v.store.maxId ? String(this.v.store.maxId) : null);
    if (!from) return this.reload();
    const key = this.serverKey();
    if (key !== this.streamFilterKey) {
      // Lines from here on arrive through the new filter; earlier filtered ranges are refilled.
      const at = Number(from);
      if (this.openSpan) {
        this.openSpan.hi = at;
        this.spans.push(this.openSpan);
        this.openSpan = null;
      }
      this.streamFilterKey = key;
      if (key !== UNFILTERED) this.openSpan = { lo: at, hi: Infinity, keys: new Set([key]) };
      this.refillSpans();
    }
    this.stream.open(this.streamQuery({ resume: true }), from);
  }

  /** The EventSource gave up (HTTP error, or the browser stopped retrying). */
  recover() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.recoverNow(), this.reconnectDelay);
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 10000);
  }

  async recoverNow() {
    const generation = this.generation;
    try {
      await this.v.sourcePicker.load();
      await this.checkServerFilter();
    } catch (error) {
      if (generation !== this.generation) return;
      return this.handleFailure(error);
    }
    if (generation !== this.generation) return;
    this.resume();
  }

  handleFailure(error) {
    const v = this.v;
    if (error instanceof AuthRequired) {
      this.stream.close();
      v.auth.show(error.mode, v.loggedIn ? "Your session expired. Sign in again." : "");
      return;
    }
    v.status.notice(`Sidecar unreachable (${error.message}); retrying in ${Math.round(this.reconnectDelay / 1000)} s`);
    v.connState = "offline";
    v.status.update();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      v.connState = null;
      if (v.store.maxId || this.stream.lastEventId) this.recoverNow();
      else this.start();
    }, this.reconnectDelay);
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 10000);
  }

  /** Load the sources, then open the stream. */
  async start() {
    const v = this.v;
    try {
      await v.sourcePicker.load();
    } catch (error) {
      return this.handleFailure(error);
    }
    this.reconnectDelay = 500;
    v.connState = null;
    if (v.authMode === null) {
      const mode = await authMode(); // a session from before a reload: Log out must be there
      if (mode && mode !== "none") v.authMode = mode;
    }
    v.auth.signedIn();
    this.reload();
  }

  /** Close the stream and forget every line (sign-out). */
  stop() {
    const v = this.v;
    this.generation++;
    this.forget();
    v.vp.changed(0);
    v.status.update();
  }

  /** Close the stream and empty every line store (shared by reload and sign-out). */
  forget() {
    const v = this.v;
    clearTimeout(this.reconnectTimer);
    this.stream.close();
    this.stream.lastEventId = null;
    v.vp.beforeChange();
    v.store.clear();
    v.store.maxId = 0;
    v.view.clear();
    v.held = [];
    this.incoming = [];
    this.spans = [];
    this.openSpan = null;
    this.resync = null;
  }

  // ---------- receiving ----------

  receive(raw) {
    const lines = raw.map(makeLine);
    let live = 0;
    for (const line of lines) if (line.id > this.liveFrom) live++;
    this.v.status.countRate(live);
    if (live < lines.length) this.scheduleMerge();
    if (this.resync) {
      pushAll(this.resync.pending, lines); // held until the restart resync has run
      return;
    }
    this.deliver(lines);
  }

  /**
   * The backfill (lines the sources held when the stream opened) is done once no more of it
   * arrived for a moment: then the sources read at start are merged by time, once.
   */
  scheduleMerge() {
    clearTimeout(this.mergeTimer);
    const generation = this.generation;
    this.mergeTimer = setTimeout(() => {
      if (generation !== this.generation) return;
      if (this.resync || this.v.paused) return;
      this.flush();
      const v = this.v;
      v.vp.beforeChange();
      if (v.store.mergeByTime(this.liveFrom)) {
        v.view.rebuild(v.store, v.filter);
        v.vp.changed(0);
        v.vp.redraw();
      }
    }, 150);
  }

  deliver(lines) {
    const v = this.v;
    if (!lines.length) return;
    if (v.paused) {
      pushAll(v.held, lines);
      if (v.held.length > v.store.cap) v.held.splice(0, v.held.length - v.store.cap);
      v.status.update();
      return;
    }
    pushAll(this.incoming, lines);
    this.scheduleFlush();
  }

  scheduleFlush() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    requestAnimationFrame(() => this.flush());
  }

  /** Once per frame: move received lines into the store and the view. */
  flush() {
    const v = this.v;
    this.flushQueued = false;
    if (!this.incoming.length) return;
    const batch = this.incoming;
    this.incoming = [];
    v.vp.beforeChange();
    const oldLength = v.view.rows.length;
    const { appended, inserted } = v.store.add(batch);
    let from = oldLength;
    if (inserted) {
      v.view.rebuild(v.store, v.filter);
      from = 0;
    } else {
      const added = v.view.append(appended, v.filter);
      if (!v.vp.follow) v.newWhileScrolled += added;
    }
    for (const line of appended) {
      if (line.entry !== null && !line.marker) {
        const first = v.store.get(line.entry); // its "+N lines" count changed
        if (first) v.vp.refreshLine(first);
      }
    }
    const boundary = v.store.evict();
    if (boundary !== null) {
      v.view.dropThrough(boundary, v.filter);
      from = 0;
      if (this.olderState !== "loading") this.olderState = "done"; // at the cap: do not load older lines
    }
    v.vp.changed(from);
    v.status.update();
    v.status.updateJump();
  }

  /** Lines from api/lines into the store and view now (they may land anywhere). */
  insert(lines) {
    const v = this.v;
    if (!lines.length) return;
    v.vp.beforeChange();
    v.store.add(lines);
    v.view.rebuild(v.store, v.filter);
    v.vp.changed(0);
    v.status.update();
  }

  addMarker(afterId, kind, text) {
    const marker = makeMarker(this.v.store, afterId || this.v.store.maxId, kind, text);
    if (!marker) return null;
    this.incoming.push(marker);
    this.scheduleFlush();
    return marker;
  }

  onGap(data, id, previousId) {
    const v = this.v;
    v.gapLog.push({ ...data, id });
    const missed = data.missed;
    const where = data.source ? ` from ${data.source}` : "";
    if (data.reason === "restart") {
      this.addMarker(v.store.maxId, "restart", "sidecar restarted: stream resumed (lines already shown are skipped)");
      this.startResync();
      v.status.notice("Sidecar restarted; reconnected");
      v.status.announce("warn", `The sidecar restarted (seen at ${shortTime(Date.now() / 1000)}): the stream resumed; lines already shown are skipped, lines written while it was down are fetched`);
    } else if (data.reason === "slow-client" && data.source && typeof missed === "number" && missed > 0) {
      this.fetchBack(data.source, Number(id), missed, previousId ? Number(previousId) : v.store.maxId);
    } else {
      if (typeof missed === "number") v.gapsTotal += missed;
      const count = typeof missed === "number" ? `${nf.format(missed)} lines` : "some lines";
      const why = { "slow-client": "the browser fell behind", evicted: "they left the sidecar's buffer" }[data.reason] || data.reason;
      this.addMarker(v.store.maxId, "gap", `gap: ${count} missed${where} (${why})`);
      v.status.notice(`Gap: ${count} missed${where}`);
      v.status.announce("warn", `${count} missed${where} at ${shortTime(Date.now() / 1000)} (${why})`);
    }
    v.status.update();
  }

  /**
   * A `slow-client` gap: the stream dropped `missed` lines of `source` ending at id `hi`.
   * Fetch them back from api/lines; a gap row stays only for those the sidecar no longer
   * holds, with their exact number.
   */
  fetchBack(source, hi, missed, after) {
    const v = this.v;
    const generation = this.generation;
    const marker = this.addMarker(after, "gap", `fetching ${nf.format(missed)} lines from ${source} that the browser fell behind on…`);
    this.recovering += missed;
    const run = async () => {
      let fetched = 0;
      let failure = null;
      try {
        fetched = await fetchNewest(source, hi, missed, (lines) => this.insert(lines), () => generation === this.generation);
      } catch (error) {
        failure = error;
      }
      this.recovering -= missed;
      if (generation !== this.generation) return;
      this.flush(); // the marker may still wait for its frame
      const lost = missed - fetched;
      if (lost <= 0) this.removeMarker(marker);
      else {
        v.gapsTotal += lost;
        const why = failure ? `could not fetch them back: ${failure.message}` : "the browser fell behind and the sidecar no longer holds them";
        this.setMarkerText(marker, `gap: ${nf.format(lost)} lines missed from ${source} (${why})`);
        v.status.notice(`Gap: ${nf.format(lost)} lines missed from ${source}`);
        v.status.announce("warn", `${nf.format(lost)} lines missed from ${source} at ${shortTime(Date.now() / 1000)} (${why})`);
      }
      v.status.update();
    };
    this.recoveries = this.recoveries.then(run);
  }

  removeMarker(marker) {
    if (!marker) return;
    const v = this.v;
    v.vp.beforeChange();
    v.store.removeMarker(marker);
    v.view.rebuild(v.store, v.filter);
    v.vp.changed(0);
  }

  setMarkerText(marker, text) {
    if (!marker) return;
    marker.text = marker.plain = text;
    this.v.vp.invalidateLine(marker);
  }

  onSourceEvent(data, id) {
    const v = this.v;
    const change = data.change || "changed";
    const text = `${data.source}: ${change}${data.error ? " (" + data.error + ")" : ""}`;
    v.status.notice(text);
    if (change !== "added") {
      const when = shortTime(typeof data.time === "number" ? data.time : Date.now() / 1000);
      const bad = ["error", "removed", "ended"].includes(change);
      v.status.announce(bad ? "warn" : "info", `${data.source} ${change} at ${when}${data.error ? ": " + data.error : ""}`);
    }
    if (change !== "added") this.addMarker(v.store.maxId, "source", text);
    if (["added", "removed", "error", "ended", "reconnected", "restarted"].includes(change)) {
      v.sourcePicker.load().catch(() => {});
    }
  }

  // ---------- after a sidecar restart ----------

  startResync() {
    const state = resyncState(this.v.store);
    this.resync = state;
    this.fetchAfterRestart(state);
  }

  async fetchAfterRestart(state) {
    let raw = [];
    try {
      const params = this.filterParams();
      params.set("limit", String(FILL_PAGE));
      const response = await api("api/lines?" + params.toString());
      if (response.ok) raw = (await response.json()).lines || [];
    } catch {
      /* show what the stream sends */
    }
    if (this.resync !== state) return;
    this.resync = null;
    const fetched = raw.map(makeLine);
    const kept = resyncNew(state, fetched);
    const lastFetched = fetched.length ? fetched[fetched.length - 1].id : 0;
    const live = state.pending.filter((line) => line.id > lastFetched);
    kept.sort((a, b) => a.id - b.id);
    this.deliver(kept.concat(live));
  }

  // ---------- older lines and filtered ranges ----------

  async loadOlder() {
    const v = this.v;
    const store = v.store;
    if (this.olderState !== "idle" || v.paused || !store.lines.length || store.count >= store.cap) return;
    const first = store.firstId;
    if (first === null) return;
    this.olderState = "loading";
    const generation = this.generation;
    try {
      const params = this.filterParams();
      params.set("before", String(first));
      params.set("limit", String(Math.min(OLDER_PAGE, store.cap - store.count)));
      const response = await api("api/lines?" + params.toString());
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      if (generation !== this.generation) return;
      const lines = (body.lines || []).map(makeLine);
      const key = this.serverKey();
      if (key !== UNFILTERED && lines.length) this.spans.push({ lo: body.more ? lines[0].id - 1 : -Infinity, hi: first - 1, keys: new Set([key]) });
      v.vp.beforeChange();
      const kept = store.prepend(lines);
      if (!body.more || !kept.length) {
        const marker = makeMarker(store, ((store.lines.length ? key(store.lines[0]) : first)) - 1, "info", "start of the lines the sidecar holds");
        if (marker) store.prepend([marker]);
      }
      v.view.rebuild(store, v.filter);
      v.vp.changed(0);
      this.olderState = body.more && kept.length ? "idle" : "done";
      v.status.update();
    } catch (error) {
      this.olderState = "idle";
      if (error instanceof AuthRequired) this.handleFailure(error);
    }
  }

  /**
   * Fetch the lines of filtered ranges that the current (different) filter also keeps.
   * With no filter left, a range is then complete but for what the sidecar evicted in the
   * meantime: that gets a gap row with the exact count, per source.
   */
  async refillSpans() {
    this.refilling = (this.refilling || 0) + 1;
    try {
      await this.refillSpansNow();
    } finally {
      this.refilling--;
    }
  }

  async refillSpansNow() {
    const v = this.v;
    const key = this.serverKey();
    const generation = this.generation;
    const alive = () => generation === this.generation;
    const todo = this.spans.filter((span) => !span.keys.has(key));
    for (const span of todo) {
      const lo = Number.isFinite(span.lo) ? span.lo : (v.store.firstId ?? 1) - 1;
      try {
        await fetchRange(v.selected, lo, span.hi, this.filterParams(new URLSearchParams()), (lines) => this.insert(lines), alive);
        if (!alive()) return;
        if (key === UNFILTERED) await this.markEvicted(lo, span.hi, alive);
      } catch {
        return;
      }
      if (!alive()) return;
      if (key === UNFILTERED) this.spans = this.spans.filter((s) => s !== span);
      else span.keys.add(key);
    }
    v.status.update();
  }

  /**
   * Gap rows for the lines of (lo, hi] that are on neither side: evicted by the sidecar
   * before they could be fetched, and not received through the filter either.
   */
  async markEvicted(lo, hi, alive) {
    const v = this.v;
    const first = await firstHeldIds();
    for (const source of v.sourcePicker.shown()) {
      const held = first.get(source);
      const fromLo = await evictedAfter(source, Math.floor(lo), held);
      const fromHi = Number.isFinite(hi) ? await evictedAfter(source, Math.floor(hi), held) : 0;
      if (!alive()) return;
      let lost = null;
      if (fromLo !== null && fromHi !== null) {
        const top = Math.min(hi, (held ?? Infinity) - 1);
        lost = fromLo - fromHi - v.store.countBetween(source, lo, top);
      }
      if (lost === 0) continue;
      if (lost > 0) v.gapsTotal += lost;
      const count = lost === null ? "some lines" : `${nf.format(lost)} lines`;
      const marker = makeMarker(v.store, lo, "gap", `gap: ${count} from ${source} were hidden by the filter and the sidecar no longer holds them`);
      v.status.announce("warn", `${count} from ${source} cannot be shown: hidden by the filter, and the sidecar no longer holds them`);
      if (marker) this.insert([marker]);
    }
  }

  /** After a filter change: reopen the stream when the server side of the filter changed. */
  async applyServerFilter() {
    if (this.v.connState === "login") return;
    try {
      await this.checkServerFilter();
    } catch (error) {
      return this.handleFailure(error);
    }
    if (this.serverKey() !== this.streamFilterKey) this.resume();
  }

  // ---------- pause and clear ----------

  setPaused(on) {
    const v = this.v;
    v.paused = on;
    if (!on && v.held.length) {
      pushAll(this.incoming, v.held);
      v.held = [];
      this.scheduleFlush();
    }
    v.status.update();
  }

  /** "Clear" means: from now on; what was cleared is not reloaded. */
  clear() {
    const v = this.v;
    v.vp.beforeChange();
    v.store.clear();
    v.view.clear();
    v.held = [];
    this.incoming = [];
    this.spans = [];
    if (this.openSpan) this.openSpan.lo = v.store.maxId;
    this.olderState = "done";
    v.newWhileScrolled = 0;
    v.vp.follow = true;
    v.vp.changed(0);
    v.status.updateJump();
    v.status.update();
  }
}
