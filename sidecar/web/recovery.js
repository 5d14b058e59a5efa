// Fetch-back: the screen keeps the delivery contract. What the stream could not deliver
// (a `slow-client` gap, a range received through a server filter that is now cleared) is
// fetched from api/lines while the sidecar still holds it; only what it no longer holds
// becomes a gap row, with the exact count.
//
// The exact count of lines the sidecar evicted comes from the stream's own resume: a
// stream opened with `last_event_id=L` starts with `gap{reason:"evicted", missed}` for
// the lines after L it no longer holds. A probe reads those opening events and stops at
// the first `lines` event (always sent: the probed source still holds lines after L).

import { api } from "./api.js";
import { makeLine } from "./store.js";

const PAGE = 10000;

/**
 * Lines of `sources` with lo < id <= hi held by the sidecar, oldest first, in pages.
 * `params` adds filters; `onPage(lines)` gets each page. Returns the number fetched.
 */
export async function fetchRange(sources, lo, hi, params, onPage, alive = () => true) {
  let after = lo;
  let fetched = 0;
  for (;;) {
    const query = new URLSearchParams(params);
    if (sources.length) query.set("source", sources.join(","));
    query.set("after", String(Math.max(0, after)));
    query.set("limit", String(PAGE));
    const response = await api("api/lines?" + query.toString());
    if (!response.ok) throw new Error(`api/lines: HTTP ${response.status}`);
    const body = await response.json();
    if (!alive()) return fetched;
    const page = body.lines || [];
    const lines = page.filter((l) => l.id <= hi).map(makeLine);
    if (lines.length) {
      fetched += lines.length;
      onPage(lines);
      after = lines[lines.length - 1].id;
    }
    if (!body.more || lines.length < page.length || !lines.length) return fetched;
  }
}

/**
 * The newest `count` held lines of `source` with id <= hi, in pages (newest page first):
 * the lines of a `slow-client` gap. Fewer come back only when the sidecar evicted the
 * oldest of them, so `count - fetched` is exactly what is lost. Returns the number fetched.
 */
export async function fetchNewest(source, hi, count, onPage, alive = () => true) {
  let before = hi + 1;
  let fetched = 0;
  while (fetched < count) {
    const want = Math.min(PAGE, count - fetched);
    const query = new URLSearchParams({ source, before: String(before), limit: String(want) });
    const response = await api("api/lines?" + query.toString());
    if (!response.ok) throw new Error(`api/lines: HTTP ${response.status}`);
    const body = await response.json();
    if (!alive()) return fetched;
    const lines = (body.lines || []).map(makeLine);
    if (lines.length) {
      fetched += lines.length;
      onPage(lines);
      before = lines[0].id;
    }
    if (!body.more || lines.length < want) break;
  }
  return fetched;
}

/** The sidecar's oldest held id per source (from api/sources). */
export async function firstHeldIds() {
  const response = await api("api/sources");
  if (!response.ok) throw new Error(`api/sources: HTTP ${response.status}`);
  const body = await response.json();
  return new Map((body.sources || []).map((s) => [s.id, s.first_id ?? null]));
}

/** How many lines of `source` with id > after the sidecar has evicted (0 when it holds them all). */
export async function evictedAfter(source, after, firstHeld) {
  if (firstHeld === null || firstHeld === undefined) return null; // holds nothing: unknown
  if (firstHeld <= after) return 0; // everything after `after` is still held
  const query = new URLSearchParams({ source, tail: "0", last_event_id: String(after) });
  const controller = new AbortController();
  const response = await api("api/stream?" + query.toString(), { signal: controller.signal, headers: { Accept: "text/event-stream" } });
  if (!response.ok || !response.body) throw new Error(`api/stream: HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let missed = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      let end;
      while ((end = text.search(/\r?\n\r?\n/)) >= 0) {
        const frame = text.slice(0, end);
        text = text.slice(end).replace(/^\r?\n\r?\n/, "");
        const event = /^event: ?(.*)$/m.exec(frame)?.[1]?.trim();
        if (event === "lines") return missed;
        if (event === "gap") {
          const data = JSON.parse(/^data: ?(.*)$/m.exec(frame)?.[1] ?? "{}");
          if (data.reason === "restart") return null;
          if (data.source === source && typeof data.missed === "number") missed += data.missed;
        }
      }
      if (text.length > 1_000_000) break; // a probe never needs more than the opening events
    }
  } finally {
    controller.abort();
  }
  return missed;
}
