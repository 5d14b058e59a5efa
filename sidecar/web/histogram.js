// Log volume over the held lines, stacked by level; dragging across it zooms the view to
// that time range (a browser-side filter on the lines' time). Redrawn at most once a second
// and only when the lines changed: one pass over the store then, never per frame.

import { writeSettings } from "./settings.js";
import { shortTime } from "./time.js";

const $ = (id) => document.getElementById(id);
const BINS = 120;
const LAYERS = [
  ["error", ["error", "fatal"], "--lvl-error"],
  ["warn", ["warn"], "--lvl-warn"],
  ["info", ["info"], "--lvl-info"],
  ["other", [null, "debug", "trace"], "--lvl-debug"],
];
const LAYER_OF = new Map(LAYERS.flatMap(([, levels], i) => levels.map((l) => [l, i])));

export class Histogram {
  constructor(v) {
    this.v = v;
    this.canvas = $("histogram");
    this.dirty = true;
    this.range = null; // [t0, t1] of the drawn bins
    this.drag = null;
    this.timer = 0;
    this.drawnAt = 0;
    this.canvas.addEventListener("pointerdown", (e) => this.startDrag(e));
    this.canvas.addEventListener("pointermove", (e) => this.moveDrag(e));
    this.canvas.addEventListener("pointerup", (e) => this.endDrag(e));
    $("zoom-reset").addEventListener("click", () => this.zoom(""));
    this.renderZoom();
  }

  /** The lines changed: redraw soon, at most once a second. */
  changed() {
    this.dirty = true;
    if (this.timer) return;
    const wait = this.range ? Math.max(50, 1000 - (performance.now() - this.drawnAt)) : 50;
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.draw();
    }, wait);
  }

  /** Counts per bin and level layer over the held lines. */
  bins() {
    const lines = this.v.store.lines;
    let t0 = Infinity;
    let t1 = -Infinity;
    for (let i = 0; i < lines.length; i++) {
      const t = lines[i].time;
      if (lines[i].marker || !t) continue;
      if (t < t0) t0 = t;
      if (t > t1) t1 = t;
    }
    if (!(t1 >= t0)) return null;
    if (t1 - t0 < 1) t1 = t0 + 1;
    const width = (t1 - t0) / BINS;
    const counts = LAYERS.map(() => new Uint32Array(BINS));
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.marker || !line.time) continue;
      const bin = Math.min(BINS - 1, Math.floor((line.time - t0) / width));
      counts[LAYER_OF.get(line.level) ?? 3][bin]++;
    }
    return { t0, t1, counts };
  }

  draw(force = false) {
    if (!force && !this.dirty) return;
    this.dirty = false;
    this.drawnAt = performance.now();
    const canvas = this.canvas;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (!w || !h) return;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    const g = canvas.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, w, h);
    const data = this.bins();
    this.range = data ? [data.t0, data.t1] : null;
    $("histogram-range").textContent = data ? `${shortTime(data.t0)} – ${shortTime(data.t1)}` : "";
    if (!data) return;
    const totals = new Uint32Array(BINS);
    for (const layer of data.counts) for (let b = 0; b < BINS; b++) totals[b] += layer[b];
    const max = Math.max(1, ...totals);
    const style = getComputedStyle(document.documentElement);
    const bw = w / BINS;
    const base = new Float64Array(BINS);
    for (let k = LAYERS.length - 1; k >= 0; k--) {
      g.fillStyle = style.getPropertyValue(LAYERS[k][2]).trim() || "#888";
      for (let b = 0; b < BINS; b++) {
        const n = data.counts[k][b];
        if (!n) continue;
        const bh = (n / max) * (h - 2);
        g.fillRect(b * bw + 0.5, h - base[b] - bh, Math.max(1, bw - 1), bh);
        base[b] += bh;
      }
    }
    if (this.drag) {
      g.fillStyle = "rgba(37, 99, 235, 0.18)";
      const [a, c] = [Math.min(this.drag.x0, this.drag.x1), Math.max(this.drag.x0, this.drag.x1)];
      g.fillRect(a, 0, c - a, h);
    }
  }

  /** The start (or end) of the bin under x: a drag selects whole bins. */
  timeAt(x, end = false) {
    const [t0, t1] = this.range;
    const w = this.canvas.clientWidth;
    const bin = Math.min(BINS - 1, Math.max(0, Math.floor((x / w) * BINS)));
    return t0 + ((bin + (end ? 1 : 0)) * (t1 - t0)) / BINS;
  }

  startDrag(e) {
    if (!this.range) return;
    this.canvas.setPointerCapture(e.pointerId);
    this.drag = { x0: e.offsetX, x1: e.offsetX };
  }

  moveDrag(e) {
    if (!this.drag) return;
    this.drag.x1 = e.offsetX;
    this.draw(true);
  }

  endDrag(e) {
    if (!this.drag) return;
    const { x0 } = this.drag;
    const x1 = e.offsetX;
    this.drag = null;
    if (Math.abs(x1 - x0) < 3) return this.draw(true);
    const a = this.timeAt(Math.min(x0, x1));
    const b = this.timeAt(Math.max(x0, x1), true);
    this.zoom(`${Math.floor(a * 1000) / 1000},${Math.ceil(b * 1000) / 1000}`);
  }

  /** Show only lines with from <= time <= to ("" shows all). */
  zoom(tw) {
    const v = this.v;
    v.settings.tw = tw;
    writeSettings(v.settings);
    this.renderZoom();
    v.applyFilter();
    this.draw(true);
  }

  renderZoom() {
    const tw = this.v.settings.tw;
    $("zoom").hidden = !tw;
    if (tw) {
      const [a, b] = tw.split(",").map(Number);
      $("zoom-label").textContent = `${shortTime(a)} – ${shortTime(b)}`;
    }
  }
}
