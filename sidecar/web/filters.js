// Client-side filters. The same filter goes to the server as `grep` (RE2 syntax).

export const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];
const RANK = Object.fromEntries(LEVELS.map((name, i) => [name, i]));

export function levelRank(level) {
  return level == null ? -1 : (RANK[level] ?? -1);
}

/** Escape text so RE2 (and JavaScript) match it literally. */
export function escapeRegex(text) {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

// RE2 syntax the browser's RegExp spells differently: leading flag groups such as `(?i)`
// become RegExp flags, `(?P<name>` is `(?<name>`, `\A` and `\z` anchor the whole text, and
// POSIX classes expand. What RE2 refuses (look-around, back-references) is named up front.
const POSIX = {
  alpha: "A-Za-z", digit: "0-9", alnum: "A-Za-z0-9", upper: "A-Z", lower: "a-z", space: "\\s", xdigit: "0-9A-Fa-f",
  punct: "!-/:-@\\[-`{-~", word: "\\w", blank: " \\t", cntrl: "\\x00-\\x1f\\x7f", print: " -~", graph: "!-~",
};

/** RE2 pattern -> {source, flags, warning} for RegExp; `warning` names what RE2 (the server) refuses. */
export function re2ToJs(pattern) {
  let warning = null;
  if (/\(\?<?[=!]/.test(pattern)) warning = "look-ahead and look-behind are not RE2 syntax: the server refuses them";
  else if (/(^|[^\\])\\[1-9]/.test(pattern)) warning = "back-references (\\1) are not RE2 syntax: the server refuses them";
  let source = pattern;
  const flags = new Set();
  let m;
  while ((m = /^\(\?([imsU]+)\)/.exec(source))) {
    for (const f of m[1]) if (f !== "U") flags.add(f);
    source = source.slice(m[0].length);
  }
  source = source
    .replace(/\(\?P</g, "(?<")
    .replace(/\\A/g, "^")
    .replace(/\\z/g, "$")
    .replace(/\[:(\^?)(\w+):\]/g, (all, neg, name) => (POSIX[name] && !neg ? POSIX[name] : all));
  return { source, flags: [...flags].join(""), warning };
}

/**
 * Compile the user's filter. Returns
 *   { active, error, grep, test(line) -> bool, matches(line) -> bool, ranges(text) -> [[start, end], ...] }
 * `grep` is the pattern for the server (null when empty, or in highlight-only mode, where the
 * text marks lines but hides none); `test` works on the lines' precomputed plain text
 * (`line.plain`), lower-cased lazily for case-insensitive text search.
 */
export function compileFilter({ text = "", regex = false, matchCase = false, level = "", highlightOnly = false }) {
  const minRank = level ? levelRank(level) : -1;
  const levelOk = minRank < 0 ? null : (line) => levelRank(line.level) >= minRank;
  let textOk = null;
  let ranges = () => [];
  let grep = null;
  let error = null;
  let warning = null;
  if (text) {
    if (regex) {
      let re = null;
      const js = re2ToJs(text);
      warning = js.warning;
      {
        const base = js.flags.replace("i", "");
        const ci = !matchCase || js.flags.includes("i");
        try {
          re = new RegExp(js.source, "g" + base + (ci ? "i" : ""));
        } catch (e) {
          error = e.message.replace(/^Invalid regular expression: /, "");
        }
        if (re) {
          const single = new RegExp(js.source, base + (ci ? "i" : ""));
          textOk = (line) => single.test(line.plain);
          ranges = (s) => regexRanges(re, s);
          grep = (matchCase ? "" : "(?i)") + text;
        }
      }
    } else {
      const needle = matchCase ? text : text.toLowerCase();
      textOk = matchCase
        ? (line) => line.plain.includes(needle)
        : (line) => (line.lc ??= line.plain.toLowerCase()).includes(needle);
      ranges = (s) => literalRanges(matchCase ? s : s.toLowerCase(), needle);
      grep = (matchCase ? "" : "(?i)") + escapeRegex(text);
    }
  }
  const hideText = textOk && !highlightOnly ? textOk : null;
  if (highlightOnly) grep = null;
  let test;
  if (hideText && levelOk) test = (line) => levelOk(line) && hideText(line);
  else test = hideText || levelOk || (() => true);
  return {
    active: Boolean(hideText || levelOk), error, warning, grep, level: level || null, test, ranges,
    highlights: Boolean(textOk), matches: textOk || (() => false), hasText: Boolean(textOk),
  };
}

function literalRanges(haystack, needle) {
  const out = [];
  if (!needle) return out;
  let i = haystack.indexOf(needle);
  while (i >= 0 && out.length < 1000) {
    out.push([i, i + needle.length]);
    i = haystack.indexOf(needle, i + needle.length);
  }
  return out;
}

function regexRanges(re, s) {
  const out = [];
  re.lastIndex = 0;
  let m;
  while ((m = re.exec(s)) !== null && out.length < 1000) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    out.push([m.index, m.index + m[0].length]);
  }
  return out;
}
