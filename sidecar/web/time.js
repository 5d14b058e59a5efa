// Times as the user asked to see them: local or UTC, the zone always named.

const pad = (n, w = 2) => String(n).padStart(w, "0");
let utc = false;

export function setUtc(on) {
  utc = Boolean(on);
}

export function isUtc() {
  return utc;
}

/** The zone times are shown in: "UTC" or the browser's offset such as "UTC+01:00". */
export function zoneName(at = new Date()) {
  if (utc) return "UTC";
  const off = -at.getTimezoneOffset();
  if (off === 0) return "UTC";
  const sign = off > 0 ? "+" : "-";
  return `UTC${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

function parts(seconds) {
  const d = new Date(seconds * 1000);
  return utc
    ? { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds(), ms: d.getUTCMilliseconds(), date: d }
    : { y: d.getFullYear(), mo: d.getMonth() + 1, d: d.getDate(), h: d.getHours(), mi: d.getMinutes(), s: d.getSeconds(), ms: d.getMilliseconds(), date: d };
}

/** `12:03:04.123` (the time column). */
export function clockTime(seconds) {
  if (!seconds) return "";
  const p = parts(seconds);
  return `${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad(p.ms, 3)}`;
}

/** `12:03:04` (banners: "last line 12:03:04"). */
export function shortTime(seconds) {
  if (!seconds) return "";
  const p = parts(seconds);
  return `${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}`;
}

/** `2026-11-26 12:03:04.123456 UTC+01:00` (hover: the full date, time and zone). */
export function fullTime(seconds) {
  if (!seconds) return "";
  const p = parts(seconds);
  const micro = Math.round((seconds % 1) * 1e6) % 1e6;
  return `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad(micro, 6)} ${zoneName(p.date)}`;
}

/** ISO 8601 in UTC (downloads and copies: unambiguous). */
export function isoTime(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString() : "";
}
