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

/**
 * Compile the user's filter. Returns
 *   { active, error, grep, test(line) -> bool, ranges(text) -> [[start, end], ...] }
 * `grep` is the pattern for the server (null when empty); `test` works on the lines'
 * precomputed plain text (`line.plain`), lower-cased lazily for case-insensitive text search.
 */
export function compileFilter({ text = "", regex = false, matchCase = false, level = "" }) {
  const minRank = level ? levelRank(level) : -1;
  const levelOk = minRank < 0 ? null : (line) => levelRank(line.level) >= minRank;
  let textOk = null;
  let ranges = () => [];
  let grep = null;
  let error = null;
  if (text) {
    if (regex) {
      let re = null;
      try {
        re = new RegExp(text, matchCase ? "g" : "gi");
      } catch (e) {
        error = e.message.replace(/^Invalid regular expression: /, "");
      }
      if (re) {
        const single = new RegExp(text, matchCase ? "" : "i");
        textOk = (line) => single.test(line.plain);
        ranges = (s) => regexRanges(re, s);
        grep = (matchCase ? "" : "(?i)") + text;
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
  let test;
  if (textOk && levelOk) test = (line) => levelOk(line) && textOk(line);
  else test = textOk || levelOk || (() => true);
  return { active: Boolean(textOk || levelOk), error, grep, level: level || null, test, ranges, highlights: Boolean(textOk) };
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
