// Search navigation: the match count, next/previous match and next/previous error. Scans
// start from the current match (or the top of the view) and stop at the first hit, so a
// step costs the distance to the next hit, not a pass over every row.

import { levelRank } from "./filters.js";
import { key } from "./store.js";

const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat();
const ERROR = levelRank("error");

export class Search {
  constructor(v) {
    this.v = v;
  }

  /** Index in view.rows of the current line, or -1. */
  currentIndex() {
    const { v } = this;
    if (v.currentId === null) return -1;
    const current = v.store.get(v.currentId);
    if (!current) return -1;
    const rows = v.view.rows;
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (key(rows[mid]) < key(current)) lo = mid + 1;
      else hi = mid;
    }
    return lo < rows.length && rows[lo].id === v.currentId ? lo : -1;
  }

  /** Move to the next (dir 1) or previous (-1) row that `hit` accepts; false when there is none. */
  move(dir, hit) {
    const { v } = this;
    const rows = v.view.rows;
    if (!rows.length) return false;
    let i = this.currentIndex();
    if (i < 0) i = dir > 0 ? v.vp.topIndex() - 1 : (v.vp.follow ? rows.length : v.vp.topIndex() + 1);
    for (let k = i + dir; k >= 0 && k < rows.length; k += dir) {
      if (!rows[k].marker && hit(rows[k])) {
        this.goTo(rows[k], k);
        return true;
      }
    }
    return false;
  }

  goTo(line, index) {
    const { v } = this;
    v.currentId = line.id;
    v.rowContext.currentId = line.id;
    v.vp.scrollToIndex(index);
    v.vp.redraw();
    this.render();
  }

  step(dir) {
    const { filter } = this.v;
    if (!filter.hasText) return false;
    const found = this.move(dir, (line) => filter.matches(line));
    if (!found) $("match-count").textContent = dir > 0 ? "no next match" : "no earlier match";
    return found;
  }

  stepError(dir) {
    return this.move(dir, (line) => levelRank(line.level) >= ERROR);
  }

  /** "3 / 120" (current / all matches among the rows), "no match", or nothing without a search. */
  render() {
    const { v } = this;
    const el = $("match-count");
    if (!v.filter.hasText) {
      el.textContent = "";
      return;
    }
    const total = v.view.hits;
    if (!total) {
      el.textContent = "no match";
      return;
    }
    const i = this.currentIndex();
    if (i < 0 || !v.filter.matches(v.view.rows[i])) {
      el.textContent = `${nf.format(total)} match${total === 1 ? "" : "es"}`;
      return;
    }
    if (this.kFor !== v.currentId || this.kRows !== v.view.rows) {
      // once per step (or per rebuild), never per frame
      let k = 0;
      for (let j = 0; j <= i; j++) if (!v.view.rows[j].marker && v.filter.matches(v.view.rows[j])) k++;
      this.k = k;
      this.kFor = v.currentId;
      this.kRows = v.view.rows;
    }
    el.textContent = `${nf.format(this.k)} / ${nf.format(total)}`;
  }
}
