// The source picker: which sources are shown, their colours and the source column.

import { getJson } from "./api.js";
import { writeSettings } from "./settings.js";

const $ = (id) => document.getElementById(id);

export class SourcePicker {
  constructor(v) {
    this.v = v;
    this.colours = new Map();
    $("source-all").addEventListener("change", (e) => {
      if (!e.target.checked && v.selected.length === 0) {
        e.target.checked = true;
        return;
      }
      this.select([]);
    });
  }

  /** Source colours: given in the order sources are first seen (sorted on each load), so up to eight never share one. */
  colourIndex(source) {
    let index = this.colours.get(source);
    if (index === undefined) {
      index = this.colours.size % 8;
      this.colours.set(source, index);
    }
    return index;
  }

  async load() {
    const v = this.v;
    const body = await getJson("api/sources");
    v.sources = body.sources || [];
    for (const id of v.sources.map((source) => source.id).sort()) this.colourIndex(id);
    const known = new Set(v.sources.map((source) => source.id));
    const missing = v.selected.filter((id) => !known.has(id));
    if (missing.length && v.sources.length) {
      v.selected = v.selected.filter((id) => known.has(id));
      v.settings.source = v.selected.join(",");
      writeSettings(v.settings);
      v.status.notice(`Unknown source ${missing.join(", ")}: showing ${v.selected.length ? v.selected.join(", ") : "all"}`);
    }
    this.render();
  }

  render() {
    const v = this.v;
    const items = v.sources.map((source) => {
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = source.id;
      box.checked = v.selected.length === 0 || v.selected.includes(source.id);
      box.addEventListener("change", () => this.onToggle());
      const swatch = document.createElement("span");
      swatch.className = "swatch c" + this.colourIndex(source.id);
      const name = document.createElement("span");
      name.textContent = source.id;
      const target = document.createElement("span");
      target.className = "source-target";
      target.textContent = `${source.kind} · ${source.state}`;
      label.title = `${source.target} (${source.state}${source.error ? ": " + source.error : ""})`;
      label.append(box, swatch, name, target);
      return label;
    });
    $("source-list").replaceChildren(...items);
    $("source-all").checked = v.selected.length === 0;
    $("source-hint").textContent = v.sources.length ? "" : "No sources yet.";
    $("sources-label").textContent = v.selected.length === 0 ? "all" : v.selected.length === 1 ? v.selected[0] : `${v.selected.length} selected`;
    this.updateColumn();
  }

  /** Ids of the sources shown (the selection, or all). */
  shown() {
    return this.v.selected.length ? this.v.selected : this.v.sources.map((s) => s.id);
  }

  updateColumn() {
    const log = $("log");
    const shown = this.shown();
    log.classList.toggle("no-src", shown.length <= 1);
    const width = Math.min(18, Math.max(6, ...shown.map((id) => id.length)));
    log.style.setProperty("--src-w", width + "ch");
    this.v.vp.measureFont();
  }

  onToggle() {
    const boxes = [...$("source-list").querySelectorAll("input[type=checkbox]")];
    const checked = boxes.filter((b) => b.checked).map((b) => b.value);
    this.select(checked.length === boxes.length ? [] : checked);
  }

  select(ids) {
    const v = this.v;
    v.selected = ids;
    v.settings.source = ids.join(",");
    this.render();
    writeSettings(v.settings);
    v.controller.reload();
  }
}
