import { key } from "./store.js";

// Virtualized log area: only the rows in view (plus a small overscan) exist in the DOM.
//
// Heights: every row has a height in a prefix-sum array (`pos`). With wrap off a row is one
// text line tall, so the estimate is exact; an expanded JSON row, or any row with wrap on,
// starts from an estimate (a monospace font makes characters-per-line predictable) and is
// measured once it is rendered; the measurement is cached on the line for the current
// layout (width, wrap, columns). Positions are recomputed from the first changed row only,
// and the first visible line is kept in place across every change (anchoring), so
// measuring, prepending older lines or evicting old ones never makes the view jump.

const OVERSCAN = 8;

function lowerBoundId(rows, id) {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(rows[mid]) < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class VirtualLog {
  /**
   * @param scroller element with overflow:auto
   * @param opts {view, buildRow(line) -> Element, onNearTop(), onFollowChange(bool), onToggle(line)}
   */
  constructor(scroller, opts) {
    this.scroller = scroller;
    this.opts = opts;
    this.view = opts.view; // FilteredView: {rows, maxChars}
    this.spacer = document.createElement("div");
    this.spacer.className = "spacer";
    this.layer = document.createElement("div");
    this.layer.className = "rows";
    scroller.append(this.spacer, this.layer);

    this.pos = new Float64Array(1024);
    this.valid = 0; // pos[0..valid] are right
    this.layoutKey = 0;
    this.rowH = 18;
    this.charW = 7.5;
    this.cols = 120;
    this.gutterPx = 0;
    this.wrap = false;
    this.expandJson = false;

    this.rendered = new Map(); // line -> element
    this.order = []; // lines currently in the layer, in order
    this.follow = true;
    this.anchor = null;
    this.expectTop = -1;
    this.frame = 0;
    this.passes = 0;

    scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    scroller.addEventListener("wheel", (e) => { if (e.deltaY < 0) this.setFollow(false); }, { passive: true });
    scroller.addEventListener("keydown", (e) => {
      if (["ArrowUp", "PageUp", "Home"].includes(e.key)) this.setFollow(false);
      if (e.key === "End") { this.setFollow(true); e.preventDefault(); }
    });
    this.layer.addEventListener("click", (e) => {
      const button = e.target.closest("button");
      const row = e.target.closest(".row");
      const line = row && row.__line;
      if (!button || !line) return;
      if (button.classList.contains("jt")) this.opts.onToggle(line);
      else this.opts.onAction(line, button, e);
    });
    new ResizeObserver(() => this.measureFont()).observe(scroller);
  }

  // ----- configuration -----

  /** Read row height and character width from CSS; invalidates all heights when they change. */
  measureFont() {
    const probe = document.createElement("div");
    probe.className = "row probe";
    for (const cls of ["ts", "src"]) {
      const cell = document.createElement("span");
      cell.className = cls;
      cell.textContent = "0";
      probe.appendChild(cell);
    }
    for (let i = 0; i < (this.opts.fieldColumns?.() ?? 0); i++) {
      const cell = document.createElement("span");
      cell.className = "fcol";
      probe.appendChild(cell);
    }
    const msg = document.createElement("span");
    msg.className = "msg";
    msg.textContent = "0".repeat(100);
    probe.appendChild(msg);
    this.layer.appendChild(probe);
    const rowH = probe.getBoundingClientRect().height || 18;
    const charW = msg.getBoundingClientRect().width / 100 || 7.5;
    const gutter = msg.getBoundingClientRect().left - probe.getBoundingClientRect().left;
    probe.remove();
    const width = this.scroller.clientWidth;
    this.scroller.style.setProperty("--log-w", width + "px");
    this.scroller.style.setProperty("--gutter", gutter + "px");
    const cols = Math.max(10, Math.floor((width - gutter - 16) / charW));
    if (rowH !== this.rowH || charW !== this.charW || cols !== this.cols || gutter !== this.gutterPx) {
      this.rowH = rowH;
      this.charW = charW;
      this.cols = cols;
      this.gutterPx = gutter;
      this.relayout();
    }
  }

  configure({ wrap, expandJson }) {
    this.wrap = wrap;
    this.expandJson = expandJson;
    this.relayout();
  }

  /** Everything may have a new height (wrap, columns, font): forget measurements and rows. */
  relayout() {
    this.capture();
    this.layoutKey++;
    this.valid = 0;
    this.redraw();
  }

  /** Rows must be rebuilt (filter highlight, column visibility) but heights stay. */
  redraw() {
    this.rendered.clear();
    this.order = [];
    this.schedule();
  }

  // ----- data changes: call beforeChange() before mutating `rows`, then changed(fromIndex) -----

  get rows() {
    return this.view.rows;
  }

  beforeChange() {
    this.capture();
  }

  changed(fromIndex) {
    this.valid = Math.min(this.valid, fromIndex);
    this.schedule();
  }

  invalidateLine(line) {
    this.capture();
    line.hk = null;
    const el = this.rendered.get(line);
    if (el) el.remove();
    this.rendered.delete(line);
    const i = lowerBoundId(this.rows, key(line));
    this.valid = Math.min(this.valid, i);
    this.schedule();
  }

  /** Rebuild one row if it is on screen (its content changed, not necessarily its height). */
  refreshLine(line) {
    if (this.rendered.has(line)) this.invalidateLine(line);
  }

  /** Scroll so that rows[index] is in view (a third from the top), leaving follow mode. */
  scrollToIndex(index) {
    if (index < 0 || index >= this.rows.length) return;
    this.setFollow(false);
    this.anchor = null;
    this.ensurePositions();
    this.setTop(Math.max(0, this.pos[index] - this.scroller.clientHeight / 3));
    this.schedule();
  }

  /** Index of the first row at the top of the view. */
  topIndex() {
    this.ensurePositions();
    return Math.min(this.indexAt(this.scroller.scrollTop), Math.max(0, this.rows.length - 1));
  }

  // ----- follow -----

  setFollow(on) {
    if (this.follow === on) return;
    this.follow = on;
    this.opts.onFollowChange(on);
    if (on) this.schedule();
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollTop + s.clientHeight >= s.scrollHeight - 4;
  }

  onScroll() {
    const top = this.scroller.scrollTop;
    if (Math.abs(top - this.expectTop) > 1) {
      this.anchor = null;
      this.setFollow(this.atBottom());
    }
    if (top < this.scroller.clientHeight * 2) this.opts.onNearTop();
    this.schedule();
  }

  // ----- layout -----

  heightOf(line) {
    if (line.hk === this.layoutKey) return line.h;
    if (line.marker) return this.rowH;
    let lines = 1;
    if (this.wrap) {
      const chars = line.plain.length + (line.json ? 2 : 0) + (line.truncated ? 10 : 0);
      lines = Math.max(1, Math.ceil(chars / this.cols));
    }
    if (line.json && (line.expanded ?? this.expandJson) && line.pretty) {
      lines += line.pretty.split("\n").length;
    }
    return lines * this.rowH;
  }

  ensurePositions() {
    const n = this.rows.length;
    if (this.pos.length < n + 1) {
      const grown = new Float64Array(Math.max(n + 1, this.pos.length * 2));
      grown.set(this.pos.subarray(0, this.valid + 1));
      this.pos = grown;
    }
    if (this.valid > n) this.valid = n;
    const pos = this.pos;
    const rows = this.rows;
    pos[0] = 0;
    for (let i = this.valid; i < n; i++) pos[i + 1] = pos[i] + this.heightOf(rows[i]);
    this.valid = n;
  }

  indexAt(y, limit = this.rows.length) {
    // first row whose bottom is below y (among the first `limit` rows)
    let lo = 0;
    let hi = limit;
    const pos = this.pos;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pos[mid + 1] <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Remember the first visible line and how far into it we are scrolled. */
  capture() {
    if (this.anchor || this.follow || !this.rows.length) return;
    const top = this.scroller.scrollTop;
    if (this.valid < this.rows.length) {
      // positions are only partly valid; anchor on what is (the top is always inside)
      if (this.valid === 0) return;
      const i = Math.min(this.indexAt(top, this.valid), this.valid - 1);
      this.anchor = { k: key(this.rows[i]), off: top - this.pos[i] };
      return;
    }
    const i = Math.min(this.indexAt(top), this.rows.length - 1);
    this.anchor = { k: key(this.rows[i]), off: top - this.pos[i] };
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  setTop(top) {
    this.scroller.scrollTop = top;
    this.expectTop = this.scroller.scrollTop;
  }

  render() {
    this.frame = 0;
    this.ensurePositions();
    const n = this.rows.length;
    const total = this.pos[n];
    const width = this.wrap ? 0 : Math.ceil(this.gutterPx + (this.view.maxChars + 4) * this.charW + 16);
    this.spacer.style.height = total + "px";
    this.spacer.style.width = width > this.scroller.clientWidth ? width + "px" : "100%";
    this.layer.style.width = this.spacer.style.width;

    const view = this.scroller.clientHeight;
    if (this.follow) {
      this.setTop(Math.max(0, total - view));
      this.anchor = null;
    } else if (this.anchor) {
      const i = Math.min(lowerBoundId(this.rows, this.anchor.k), n - 1);
      if (i >= 0) {
        const keepOff = key(this.rows[i]) === this.anchor.k ? this.anchor.off : 0;
        this.setTop(this.pos[i] + keepOff);
      }
      this.anchor = null;
    }

    const top = this.scroller.scrollTop;
    const first = Math.max(0, this.indexAt(top) - OVERSCAN);
    let last = this.indexAt(top + view);
    last = Math.min(n, last + 1 + OVERSCAN);
    this.paint(first, last);

    // Measure rows rendered for the first time in this layout; re-render if estimates were off.
    let minChanged = Infinity;
    for (let i = first; i < last; i++) {
      const line = this.rows[i];
      if (line.hk === this.layoutKey) continue;
      const el = this.rendered.get(line);
      const h = el ? el.offsetHeight : 0;
      if (!h) continue;
      const before = this.heightOf(line);
      line.h = h;
      line.hk = this.layoutKey;
      if (h !== before) minChanged = Math.min(minChanged, i);
    }
    this.layer.style.transform = `translateY(${n ? this.pos[first] : 0}px)`;
    if (minChanged !== Infinity && this.passes < 4) {
      this.passes++;
      this.capture();
      this.valid = Math.min(this.valid, minChanged);
      this.render();
      return;
    }
    this.passes = 0;
  }

  /** Put rows[first..last) in the layer, reusing elements still in view. */
  paint(first, last) {
    const want = this.rows.slice(first, last);
    const keep = new Set(want);
    for (const [line, el] of this.rendered) {
      if (!keep.has(line)) {
        el.remove();
        this.rendered.delete(line);
      }
    }
    const kept = this.order.filter((line) => this.rendered.has(line));
    // Fast path: the kept rows are a contiguous run of `want`; add before and after it.
    const start = kept.length ? want.indexOf(kept[0]) : -1;
    const contiguous = start >= 0 && kept.every((line, k) => want[start + k] === line);
    const make = (line) => {
      let el = this.rendered.get(line);
      if (!el) {
        el = this.opts.buildRow(line);
        el.__line = line;
        this.rendered.set(line, el);
      }
      return el;
    };
    if (contiguous) {
      const firstKept = this.rendered.get(kept[0]);
      const before = want.slice(0, start).map(make);
      if (before.length) firstKept.before(...before);
      const after = want.slice(start + kept.length).map(make);
      if (after.length) this.layer.append(...after);
      // rows rebuilt in place (not kept but inside the run) cannot occur: they are not in `kept`
    } else {
      this.layer.replaceChildren(...want.map(make));
    }
    this.order = want;
  }

  scrollToTop() {
    this.setFollow(false);
    this.anchor = null;
    this.setTop(0);
    this.schedule();
  }

  get renderedCount() {
    return this.layer.childElementCount;
  }
}
