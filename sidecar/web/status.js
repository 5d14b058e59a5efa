// Status and notices: the status bar (connection, counts, rate), the notice line, the
// empty-state text and the "jump to latest" button. Rendered at most once per frame.

const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat();

const LABELS = {
  live: "live", connecting: "connecting…", reconnecting: "reconnecting…", idle: "disconnected",
  offline: "offline", login: "sign-in required",
};

export class Status {
  constructor(v) {
    this.v = v;
    this.queued = false;
    this.rateCount = 0;
    setInterval(() => {
      $("rate").textContent = `${nf.format(this.rateCount)} lines/s`;
      this.rateCount = 0;
    }, 1000);
  }

  notice(text) {
    $("notice").textContent = text;
    $("notice").title = text;
  }

  filterError(text) {
    const el = $("filter-error");
    el.textContent = text;
    el.hidden = !text;
  }

  /** Count lines for the lines/s meter. */
  countRate(n) {
    this.rateCount += n;
  }

  updateJump() {
    const v = this.v;
    $("jump").hidden = v.vp.follow || v.view.rows.length === 0;
    $("jump-count").textContent = v.newWhileScrolled ? `(${nf.format(v.newWhileScrolled)} new)` : "";
  }

  update() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => this.render());
  }

  render() {
    this.queued = false;
    const v = this.v;
    const stream = v.controller.stream;
    const conn = $("conn");
    let state = v.connState || stream.state;
    let label = LABELS[state] || state;
    if (v.paused && state === "live") {
      state = "paused";
      label = v.held.length ? `paused · ${nf.format(v.held.length)} new` : "paused";
    }
    conn.dataset.state = state;
    conn.textContent = label;
    const shown = v.view.shownCount;
    $("counts").textContent = v.filter.active
      ? `${nf.format(shown)} of ${nf.format(v.store.count)} lines`
      : `${nf.format(v.store.count)} lines`;
    $("counts").title = `Keeps at most ${nf.format(v.store.cap)} lines; ${nf.format(v.store.evicted)} evicted`;
    $("gaps").hidden = v.gapsTotal === 0;
    $("gaps").textContent = `${nf.format(v.gapsTotal)} missed`;
    const empty = $("empty");
    if (v.view.rows.length) empty.hidden = true;
    else {
      empty.hidden = false;
      empty.textContent = v.connState === "login" ? "Sign in to see the logs."
        : v.store.count && v.filter.active ? "No loaded line matches the filter."
        : stream.state === "live" ? "Waiting for log lines…" : "Connecting…";
    }
  }
}
