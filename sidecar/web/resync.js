// After a sidecar restart, ids start afresh and the new process does not resume the old
// stream (it sends a `restart` gap and then only new lines). It has re-read the end of each
// file, though, so the lines written while it was down are in its buffer, together with
// lines the page already shows. The page fetches that buffer and, per source, drops
// everything up to and including the last line it already held (confirmed by up to 20
// preceding lines); the rest is new. A source whose last line is not found is shown whole.

/** Per source, the texts the page already holds (the tails to find again). */
export function resyncState(store) {
  const perSource = new Map();
  for (const source of new Set(store.lines.filter((l) => !l.marker).map((l) => l.source))) {
    const tail = store.tailTexts(source, 2000);
    if (tail.length) perSource.set(source, { tail, buf: [], done: false });
  }
  return { perSource, pending: [] };
}

/** The fetched lines that are new: per source, those after the last line already held. */
export function resyncNew(state, lines) {
  const out = [];
  for (const line of lines) {
    const st = state.perSource.get(line.source);
    if (!st || st.done) {
      out.push(line);
      continue;
    }
    st.buf.push(line);
    const k = st.buf.length - 1;
    const tail = st.tail;
    if (line.text === tail[tail.length - 1]) {
      const context = Math.min(k, tail.length - 1, 20);
      let ok = true;
      for (let j = 1; j <= context && ok; j++) ok = st.buf[k - j].text === tail[tail.length - 1 - j];
      if (ok) {
        st.done = true;
        st.buf = [];
      }
    }
  }
  for (const st of state.perSource.values()) if (!st.done) pushAll(out, st.buf); // no overlap found: all new
  return out;
}

/** Append without spreading: a spread of 100,000+ items overflows the call stack. */
export function pushAll(target, items) {
  for (let i = 0; i < items.length; i++) target.push(items[i]);
}
