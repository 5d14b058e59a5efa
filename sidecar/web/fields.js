// Structured fields (JSON/logfmt, parsed by the sidecar): columns chosen in a key picker,
// and field filters (`field=KEY=VALUE` on the server) added by clicking a value.

import { writeSettings } from "./settings.js";

const $ = (id) => document.getElementById(id);
const SAMPLE = 2000; // the picker looks at the newest lines only: opening it never walks 200,000 rows

export class Fields {
  constructor(v) {
    this.v = v;
    this.columns = v.settings.cols ? v.settings.cols.split(",") : [];
    v.rowContext.fieldColumns = this.columns;
    $("view-menu").addEventListener("toggle", () => {
      if ($("view-menu").open) this.renderPicker();
    });
    this.renderFilters();
  }

  /** Keys seen in the newest lines' fields (dotted for nested objects). */
  keys() {
    const seen = new Map();
    const lines = this.v.store.lines;
    const add = (prefix, obj, depth) => {
      for (const [k, value] of Object.entries(obj)) {
        const key = prefix ? `${prefix}.${k}` : k;
        if (value && typeof value === "object" && !Array.isArray(value) && depth < 3) add(key, value, depth + 1);
        else seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    };
    for (let i = lines.length - 1, n = 0; i >= 0 && n < SAMPLE; i--, n++) {
      const f = lines[i].fields;
      if (f && typeof f === "object") add("", f, 0);
    }
    return [...seen.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k]) => k);
  }

  renderPicker() {
    const keys = [...new Set([...this.columns, ...this.keys()])];
    const box = $("field-picker");
    if (!keys.length) {
      box.replaceChildren();
      return;
    }
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.textContent = "Field columns (from JSON and logfmt lines):";
    const chips = keys.map((key) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.textContent = key;
      b.setAttribute("aria-pressed", String(this.columns.includes(key)));
      b.addEventListener("click", (e) => {
        e.stopPropagation();
        this.toggleColumn(key);
        b.setAttribute("aria-pressed", String(this.columns.includes(key)));
      });
      return b;
    });
    box.replaceChildren(hint, ...chips);
  }

  toggleColumn(key) {
    const v = this.v;
    const i = this.columns.indexOf(key);
    if (i >= 0) this.columns.splice(i, 1);
    else this.columns.push(key);
    v.settings.cols = this.columns.join(",");
    writeSettings(v.settings);
    v.vp.measureFont();
    v.vp.relayout();
  }

  addFilter(key, value) {
    const v = this.v;
    const expr = `${key}=${value}`;
    if (!v.settings.field.includes(expr)) v.settings.field = [...v.settings.field, expr];
    v.applyFilter();
  }

  removeFilter(expr) {
    const v = this.v;
    v.settings.field = v.settings.field.filter((f) => f !== expr);
    v.applyFilter();
  }

  renderFilters() {
    const bar = $("field-filters");
    const chips = this.v.settings.field.map((expr) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip filter-chip";
      b.title = "Remove this field filter";
      b.textContent = expr + "  \u2715";
      b.addEventListener("click", () => this.removeFilter(expr));
      return b;
    });
    bar.replaceChildren(...chips);
    bar.hidden = chips.length === 0;
  }
}
