// The live stream: one EventSource on `api/stream` (a relative URL, so the viewer works
// behind an ingress sub-path). While the browser retries on its own it sends
// Last-Event-ID itself; when it gives up (an HTTP error such as 401 or 503 closes an
// EventSource for good) the owner reopens with `last_event_id` in the query.

export class StreamClient {
  /**
   * @param handlers {onLines(lines), onGap(data, id, previousId), onSource(data, id), onState(state), onClosed()}
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.es = null;
    this.lastEventId = null;
    this.state = "idle";
  }

  open(query, resumeId = null) {
    this.close();
    const params = new URLSearchParams(query);
    if (resumeId) params.set("last_event_id", resumeId);
    const es = new EventSource("api/stream?" + params.toString(), { withCredentials: false });
    this.es = es;
    this.setState("connecting");
    es.addEventListener("open", () => {
      if (this.es === es) this.setState("live");
    });
    es.addEventListener("lines", (e) => {
      if (this.es !== es) return;
      this.lastEventId = e.lastEventId || this.lastEventId;
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      if (this.state !== "live") this.setState("live");
      this.handlers.onLines(data.lines || []);
    });
    es.addEventListener("gap", (e) => {
      if (this.es !== es) return;
      const before = this.lastEventId; // the gap covers what came after the previous event
      this.lastEventId = e.lastEventId || this.lastEventId;
      this.handlers.onGap(safeParse(e.data), e.lastEventId, before);
    });
    es.addEventListener("source", (e) => {
      if (this.es !== es) return;
      this.lastEventId = e.lastEventId || this.lastEventId;
      this.handlers.onSource(safeParse(e.data), e.lastEventId);
    });
    es.addEventListener("error", () => {
      if (this.es !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        this.es = null;
        es.close();
        this.setState("reconnecting");
        this.handlers.onClosed();
      } else {
        this.setState("reconnecting"); // the browser retries with Last-Event-ID
      }
    });
  }

  close() {
    if (this.es) {
      this.es.close();
      this.es = null;
    }
    this.setState("idle");
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.handlers.onState(state);
  }
}

function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}
