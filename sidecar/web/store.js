// Lines live in arrays, never in the DOM. `LineStore` holds every received line sorted
// by id (deduplicated: a resumed stream never shows a line twice) and evicts the oldest
// past a cap; `FilteredView` is the subset the filter keeps, in the same order.

import { parseAnsi } from "./ansi.js";

/** Normalise a line object from the API: strip ANSI once, keep colour runs. */
export function makeLine(raw) {
  const { plain, runs } = parseAnsi(raw.text ?? "");
  return {
    id: raw.id,
    source: raw.source ?? "",
    time: raw.time ?? 0,
    text: raw.text ?? "",
    level: raw.level ?? null,
    truncated: Boolean(raw.truncated),
    // The id of the entry's first line for a continuation line; null for a first or single line
    // (ids are above 2^31, so each stored copy would be a boxed number of its own).
    entry: raw.entry != null && raw.entry !== raw.id ? raw.entry : null,
    fields: raw.fields ?? null, // JSON/logfmt fields parsed by the sidecar
    plain,
    runs,
    h: 0, // measured height (px) for layout key `hk`
    hk: null,
    // Added when first needed (not every line needs them; 200,000 lines x 8 bytes a slot):
    // lc (lower-cased plain text, on the first case-insensitive search), json (parsed JSON, on
    // first render), expanded (per-line JSON toggle), stampLen, context, and k: the sort key when
    // it is not the id (lines merged by time, see LineStore.mergeByTime; read through key()).
  };
}

/**
 * A notice row inside the log (gap, source change, restart). Its id sits between two
 * real ids (real ids are integers), so it sorts in place and never collides with a line.
 */
export function makeMarker(store, afterId, kind, text) {
  // Ids near 1.7e15 are exact to a quarter, so there are three free slots after each id.
  const id = [0.25, 0.5, 0.75].map((d) => afterId + d).find((candidate) => !store.has(candidate));
  if (id === undefined) return null;
  return { id, entry: null, marker: true, kind, source: "", time: Date.now() / 1000, text, plain: text, runs: null, level: null, h: 0, hk: null };
}

/** The sort key of a line: its id, or the key it was given when merged by time. */
export function key(line) {
  return line.k ?? line.id;
}

function lowerBound(arr, id) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(arr[mid]) < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class LineStore {
  constructor(cap) {
    this.cap = cap;
    this.lines = [];
    this.count = 0; // real lines (markers excluded)
    this.maxId = 0; // highest real id ever accepted (kept across clear and eviction)
    this.evicted = 0;
    this.entrySizes = new Map(); // entry id -> continuation lines held
    this.moved = new Map(); // id -> line, for lines whose key is not their id (merged by time)
  }

  get firstId() {
    for (const line of this.lines) if (!line.marker) return key(line); // the lowest id held (keys are a permutation of ids)
    return null;
  }

  has(id) {
    const i = lowerBound(this.lines, id);
    return i < this.lines.length && key(this.lines[i]) === id; // keys and ids are the same set
  }

  /**
   * Add lines (any order, duplicates dropped). Returns {appended, inserted}: lines that
   * went to the end, and whether any landed in the middle (then views must rebuild).
   */
  add(lines) {
    const appended = [];
    let inserted = false;
    for (const line of lines) {
      const last = this.lines.length ? key(this.lines[this.lines.length - 1]) : -Infinity;
      if (key(line) > last) {
        this.lines.push(line);
        appended.push(line);
      } else {
        const i = lowerBound(this.lines, key(line));
        if (i < this.lines.length && key(this.lines[i]) === key(line)) continue; // duplicate
        this.lines.splice(i, 0, line);
        inserted = true;
      }
      if (!line.marker) {
        this.count++;
        if (line.id > this.maxId) this.maxId = line.id;
        if (line.entry !== null) this.entrySizes.set(line.entry, (this.entrySizes.get(line.entry) ?? 0) + 1);
      }
    }
    return { appended, inserted };
  }

  /** Older lines (all ids below the first held one) in id order. Returns those kept. */
  prepend(older) {
    const first = this.lines.length ? key(this.lines[0]) : Infinity;
    const kept = older.filter((line) => key(line) < first);
    if (kept.length) {
      this.lines = kept.concat(this.lines);
      for (const line of kept) {
        if (line.marker) continue;
        this.count++;
        if (line.entry !== null) this.entrySizes.set(line.entry, (this.entrySizes.get(line.entry) ?? 0) + 1);
      }
    }
    return kept;
  }

  /**
   * Drop the oldest lines past the cap. Eviction waits until the store is 1% (at most 2,000
   * lines) over the cap, so a full store at a high line rate shifts its arrays once per
   * chunk, not once per frame. `force` evicts down to the cap now.
   */
  evict(force = false) {
    const over = this.count - this.cap;
    const slack = force ? 0 : Math.min(2000, Math.floor(this.cap / 100));
    if (over <= slack) return null;
    let n = 0;
    let real = 0;
    while (n < this.lines.length && real < over) {
      const line = this.lines[n];
      if (!line.marker) {
        real++;
        if (line.entry !== null) this.entrySizes.set(line.entry, (this.entrySizes.get(line.entry) ?? 1) - 1);
        else this.entrySizes.delete(line.id);
      }
      n++;
    }
    const boundary = key(this.lines[n - 1]);
    this.lines.splice(0, n);
    this.count -= real;
    this.evicted += real;
    return boundary; // every line with id <= boundary is gone
  }

  get(id) {
    const i = lowerBound(this.lines, id);
    if (i < this.lines.length && this.lines[i].id === id) return this.lines[i];
    return this.moved.get(id) ?? null; // merged by time: its key is another id
  }

  /** Real lines of `source` with lo < id <= hi. */
  countBetween(source, lo, hi) {
    let n = 0;
    for (const line of this.lines) if (!line.marker && line.source === source && line.id > lo && line.id <= hi) n++;
    return n;
  }

  /** Remove one notice row (a gap that turned out to be fully fetched back). */
  removeMarker(marker) {
    const i = lowerBound(this.lines, key(marker));
    if (this.lines[i] === marker) this.lines.splice(i, 1);
  }

  clear() {
    this.lines = [];
    this.count = 0;
    this.entrySizes.clear();
    this.moved.clear();
  }

  /**
   * Sources read at start arrive one file after the other (ids are given in reading order).
   * Reorder the lines with id <= `upTo` by (time, id) by handing their keys out again: the
   * set of keys stays the set of ids, so deduplication and paging by id still hold, and a
   * line's own id never changes. Returns whether anything moved.
   */
  mergeByTime(upTo) {
    const region = [];
    const sources = new Set();
    for (const line of this.lines) {
      if (key(line) > upTo) break;
      if (line.marker) continue;
      region.push(line);
      sources.add(line.source);
    }
    if (sources.size < 2) return false;
    const keys = region.map(key); // ascending: the store is sorted by key
    const byTime = region.slice().sort((a, b) => a.time - b.time || a.id - b.id);
    let moved = false;
    for (let i = 0; i < byTime.length; i++) {
      const line = byTime[i];
      if (key(line) !== keys[i]) moved = true;
      if (keys[i] !== line.id) {
        line.k = keys[i];
        this.moved.set(line.id, line);
      } else if (line.k !== undefined) {
        line.k = undefined;
        this.moved.delete(line.id);
      }
    }
    if (moved) this.lines.sort((a, b) => key(a) - key(b));
    return moved;
  }

  /** The lines of one entry (first line and its continuations), in order. */
  entryLines(first) {
    const out = [];
    let i = lowerBound(this.lines, key(first));
    let left = this.entrySizes.get(first.id) ?? 0;
    for (; i < this.lines.length && (out.length === 0 || left > 0) && out.length < 100000; i++) {
      const line = this.lines[i];
      if (line === first) out.push(line);
      else if (!line.marker && line.entry === first.id) {
        out.push(line);
        left--;
      }
    }
    return out;
  }

  /** Texts of the newest `limit` real lines of one source, oldest first. */
  tailTexts(source, limit) {
    const out = [];
    for (let i = this.lines.length - 1; i >= 0 && out.length < limit; i--) {
      const line = this.lines[i];
      if (!line.marker && line.source === source) out.push(line.text);
    }
    return out.reverse();
  }
}

export class FilteredView {
  constructor() {
    this.rows = [];
    this.maxChars = 0;
    this.markers = 0; // notice rows among `rows`, kept up to date so no pass over all rows is needed
    this.hits = 0; // rows that match the search text (the match count)
    this.openEntries = new Set(); // entries shown with all their lines (else: first line only)
  }

  keeps(line, filter) {
    if (line.marker || line.context === true) return true;
    if (line.entry !== null && !this.openEntries.has(line.entry)) return false;
    return filter.test(line);
  }

  /** Real lines shown (notice rows excluded). */
  get shownCount() {
    return this.rows.length - this.markers;
  }

  rebuild(store, filter) {
    const rows = [];
    let maxChars = 0;
    let markers = 0;
    let hits = 0;
    const lines = store.lines;
    const all = !filter.active;
    const search = filter.hasText;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.entry !== null && !line.marker && !this.openEntries.has(line.entry)) continue;
      if (all || line.marker || line.context === true || filter.test(line)) {
        rows.push(line);
        if (line.marker) markers++;
        else if (search && filter.matches(line)) hits++;
        if (line.plain.length > maxChars) maxChars = line.plain.length;
      }
    }
    this.rows = rows;
    this.maxChars = maxChars;
    this.markers = markers;
    this.hits = hits;
  }

  /** Returns how many real lines (not notices) were added at the end. */
  append(lines, filter) {
    let added = 0;
    for (const line of lines) {
      if (this.keeps(line, filter)) {
        this.rows.push(line);
        if (line.marker) this.markers++;
        else {
          added++;
          if (filter.hasText && filter.matches(line)) this.hits++;
        }
        if (line.plain.length > this.maxChars) this.maxChars = line.plain.length;
      }
    }
    return added;
  }

  /** Returns the rows added at the start. */
  prepend(lines, filter) {
    const kept = lines.filter((line) => this.keeps(line, filter));
    if (kept.length) {
      this.rows = kept.concat(this.rows);
      for (const line of kept) {
        if (line.marker) this.markers++;
        if (line.plain.length > this.maxChars) this.maxChars = line.plain.length;
      }
    }
    return kept;
  }

  /** Drop rows with id <= boundary; returns the dropped rows. */
  dropThrough(boundary, filter = null) {
    const n = lowerBound(this.rows, boundary + 0.25); // rows with id <= boundary
    if (!n) return [];
    const dropped = this.rows.splice(0, n);
    for (const line of dropped) {
      if (line.marker) this.markers--;
      else if (filter && filter.hasText && filter.matches(line)) this.hits--;
    }
    return dropped;
  }

  clear() {
    this.rows = [];
    this.maxChars = 0;
    this.markers = 0;
    this.hits = 0;
  }
}
