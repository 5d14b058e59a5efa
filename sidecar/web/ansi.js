// ANSI escape sequences -> plain text plus colour runs (CSS classes, never inline styles).
// Only SGR (`ESC[...m`) is interpreted; every other CSI/OSC/ESC sequence is removed.

// An OSC (`ESC ]`) is removed only with its terminator (BEL or ESC \): an unterminated one
// loses just its `ESC ]`, never the rest of the line.
const SEQUENCE = /\x1b\[([0-9;:?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]?/g;

/** Nearest of the 16 basic colours for an xterm 256-colour index. */
function basic256(n) {
  if (n < 16) return n;
  if (n >= 232) return n < 244 ? 8 : 7; // grey ramp: dark grey or light grey
  const c = n - 16;
  return basicRgb(Math.floor(c / 36) * 51, (Math.floor(c / 6) % 6) * 51, (c % 6) * 51);
}

/** Nearest of the 16 basic colours for a 24-bit colour (coarse: red/green/blue bits + brightness). */
function basicRgb(r, g, b) {
  const max = Math.max(r, g, b);
  if (max < 64) return 0;
  const bits = (r > max / 2 ? 1 : 0) | (g > max / 2 ? 2 : 0) | (b > max / 2 ? 4 : 0);
  return bits + (max > 200 ? 8 : 0);
}

function runClass(st) {
  const parts = [];
  if (st.fg !== null) parts.push("fg" + st.fg);
  if (st.bg !== null) parts.push("bg" + st.bg);
  if (st.bold) parts.push("b");
  if (st.dim) parts.push("dim");
  if (st.italic) parts.push("i");
  if (st.underline) parts.push("u");
  return parts.length ? parts.map((p) => "a-" + p).join(" ") : "";
}

function applySgr(st, params) {
  const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => (p === "" ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) Object.assign(st, { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false });
    else if (c === 1) st.bold = true;
    else if (c === 2) st.dim = true;
    else if (c === 3) st.italic = true;
    else if (c === 4) st.underline = true;
    else if (c === 22) st.bold = st.dim = false;
    else if (c === 23) st.italic = false;
    else if (c === 24) st.underline = false;
    else if (c >= 30 && c <= 37) st.fg = c - 30;
    else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
    else if (c === 39) st.fg = null;
    else if (c >= 40 && c <= 47) st.bg = c - 40;
    else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
    else if (c === 49) st.bg = null;
    else if (c === 38 || c === 48) {
      let colour = null;
      if (codes[i + 1] === 5) { colour = basic256(codes[i + 2] | 0); i += 2; }
      else if (codes[i + 1] === 2) { colour = basicRgb(codes[i + 2] | 0, codes[i + 3] | 0, codes[i + 4] | 0); i += 4; }
      if (c === 38) st.fg = colour; else st.bg = colour;
    }
  }
}

/**
 * Parse `text`: returns {plain, runs} where runs are [{s, e, cls}] over `plain`
 * (only the styled stretches). Text without ESC is returned as is, with no runs.
 */
export function parseAnsi(text) {
  if (text.indexOf("\x1b") < 0) return { plain: text, runs: null };
  const st = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
  const runs = [];
  let plain = "";
  let last = 0;
  let cls = "";
  const push = (chunk) => {
    if (!chunk) return;
    const s = plain.length;
    plain += chunk;
    if (cls) {
      const prev = runs[runs.length - 1];
      if (prev && prev.e === s && prev.cls === cls) prev.e = plain.length;
      else runs.push({ s, e: plain.length, cls });
    }
  };
  SEQUENCE.lastIndex = 0;
  let m;
  while ((m = SEQUENCE.exec(text)) !== null) {
    push(text.slice(last, m.index));
    last = SEQUENCE.lastIndex;
    if (m[2] === "m") {
      applySgr(st, m[1]);
      cls = runClass(st);
    }
    if (m[0].length === 0) SEQUENCE.lastIndex++; // defensive: never loop on an empty match
  }
  push(text.slice(last));
  return { plain, runs: runs.length ? runs : null };
}

/** Text with every escape sequence removed (for downloads and searching). */
export function stripAnsi(text) {
  return text.indexOf("\x1b") < 0 ? text : parseAnsi(text).plain;
}
