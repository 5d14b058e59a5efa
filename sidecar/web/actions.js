// Row actions and copying: copy a line (or a whole entry), copy a permalink, show the lines
// around a hit, open the viewer at a permalinked line, and turn a selection of rows into
// plain log text (one line each, no time column interleaved).

import { api } from "./api.js";
import { actionBar } from "./render.js";
import { makeLine } from "./store.js";

const $ = (id) => document.getElementById(id);

export class Actions {
  constructor(v) {
    this.v = v;
    this.lastCopied = null;
    this.bar = actionBar();
    $("log").addEventListener("copy", (e) => this.onCopy(e));
    $("log").addEventListener("mouseover", (e) => {
      const row = e.target.closest(".row");
      if (row && !row.classList.contains("marker") && this.bar.parentElement !== row) this.attach(row);
    });
  }

  /** Put the action bar into a row (after the message, before an expanded JSON block). */
  attach(row) {
    const msg = row.querySelector(":scope > .msg");
    if (msg) msg.after(this.bar);
  }

  /** A button in a row was clicked. */
  onAction(line, button) {
    const cls = button.classList;
    if (cls.contains("et")) return this.toggleEntry(line);
    if (cls.contains("act-copy")) return this.copy(this.entryText(line), button);
    if (cls.contains("act-link")) return this.copy(this.permalink(line), button);
    if (cls.contains("act-context")) return this.showContext(line);
    if (cls.contains("fval")) return this.v.fields.addFilter(button.dataset.key, button.dataset.value);
  }

  /** The raw text of the line's entry (first line and continuations), ANSI stripped. */
  entryText(line) {
    const v = this.v;
    const first = line.entry === null ? line : v.store.get(line.entry) ?? line;
    return v.store.entryLines(first).map((l) => l.plain).join("\n");
  }

  toggleEntry(line) {
    const v = this.v;
    const open = v.view.openEntries;
    if (open.has(line.id)) open.delete(line.id);
    else open.add(line.id);
    v.vp.beforeChange();
    v.view.rebuild(v.store, v.filter);
    v.vp.changed(0);
    v.vp.invalidateLine(line);
  }

  permalink(line) {
    const url = new URL(location.href);
    url.hash = `line=${line.id}`;
    return url.toString();
  }

  async copy(text, button = null) {
    this.lastCopied = text;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // not a secure context (plain http through an ingress): the old way
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    if (button) {
      button.classList.add("done");
      setTimeout(() => button.classList.remove("done"), 900);
    }
    this.v.status.notice("Copied");
  }

  /** Copying a selection of rows gives the lines' own text, one per line. */
  onCopy(e) {
    const selection = document.getSelection();
    if (!selection || selection.isCollapsed) return;
    const range = selection.getRangeAt(0);
    const rowOf = (node) => (node.nodeType === 1 ? node : node.parentElement)?.closest(".row");
    const a = rowOf(range.startContainer);
    const b = rowOf(range.endContainer);
    if (!a || !b || !a.__line || !b.__line) return;
    if (a === b) {
      // Part of one line: as selected, with control characters copied as themselves, not their names.
      const part = range.cloneContents();
      for (const box of part.querySelectorAll(".cc")) box.replaceWith(box.dataset.char ?? "");
      for (const cell of part.querySelectorAll(".ts, .src, .fcol, .acts, .et, .jt")) cell.remove();
      const text = part.textContent;
      e.clipboardData.setData("text/plain", text);
      e.preventDefault();
      this.lastCopied = text;
      return;
    }
    const rows = this.v.view.rows;
    const lo = Math.min(a.__line.id, b.__line.id);
    const hi = Math.max(a.__line.id, b.__line.id);
    const text = rows.filter((l) => !l.marker && l.id >= lo && l.id <= hi).map((l) => l.plain).join("\n");
    e.clipboardData.setData("text/plain", text);
    e.preventDefault();
    this.lastCopied = text;
  }

  /** The `ctx` lines before and after a line (any filter aside), fetched from the sidecar. */
  async showContext(line) {
    const v = this.v;
    const n = v.settings.ctx;
    const base = new URLSearchParams({ source: line.source, limit: String(n) });
    const before = new URLSearchParams(base);
    before.set("before", String(line.id));
    const after = new URLSearchParams(base);
    after.set("after", String(line.id));
    const pages = await Promise.all([before, after].map(async (q) => {
      const response = await api("api/lines?" + q.toString());
      return response.ok ? (await response.json()).lines || [] : [];
    }));
    const lines = pages.flat().map(makeLine);
    const fresh = [];
    for (const l of [line, ...lines]) {
      const held = v.store.get(l.id);
      (held ?? l).context = true;
      if (!held) fresh.push(l);
    }
    v.controller.insert(fresh);
    v.vp.beforeChange();
    v.view.rebuild(v.store, v.filter);
    v.vp.changed(0);
    v.vp.redraw();
  }

  /** `#line=<id>`: fetch the lines around it, show it, stop following. */
  async openPermalink() {
    const m = /^#line=(\d{1,19})$/.exec(location.hash);
    if (!m) return;
    const v = this.v;
    const id = Number(m[1]);
    const half = Math.max(50, v.settings.ctx);
    const around = [
      new URLSearchParams({ before: String(id + 1), limit: String(half + 1) }),
      new URLSearchParams({ after: String(id), limit: String(half) }),
    ];
    try {
      const pages = await Promise.all(around.map(async (q) => (await (await api("api/lines?" + q.toString())).json()).lines || []));
      const lines = pages.flat().map(makeLine);
      const target = lines.find((l) => l.id === id);
      if (!target) {
        v.status.announce("warn", "The linked line is no longer held by the sidecar; showing the newest lines instead");
        return;
      }
      v.controller.insert(lines.filter((l) => !v.store.get(l.id)));
      const line = v.store.get(id);
      line.context = true; // shown whatever the filter
      v.vp.beforeChange();
      v.view.rebuild(v.store, v.filter);
      v.vp.changed(0);
      const index = v.view.rows.indexOf(line);
      v.currentId = id;
      v.rowContext.currentId = id;
      v.vp.scrollToIndex(index);
      v.vp.redraw();
    } catch (error) {
      v.status.announce("warn", `Could not open the linked line: ${error.message}`);
    }
  }
}

