// Keyboard: `?` lists these. Keys act only when no text field has the focus.

const $ = (id) => document.getElementById(id);

export function bindKeys(v) {
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      for (const menu of document.querySelectorAll("details.menu[open]")) menu.open = false;
      return;
    }
    const typing = e.target.closest("input, select, textarea, [contenteditable]");
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    const act = {
      "/": () => {
        $("filter").focus();
        $("filter").select();
      },
      "?": () => $("help-sheet").showModal(),
      n: () => v.search.step(1),
      N: () => v.search.step(-1),
      e: () => v.search.stepError(1),
      E: () => v.search.stepError(-1),
      h: () => v.toggleHighlight(),
      w: () => v.toggleWrap(),
      " ": () => v.togglePause(),
      G: () => v.jumpToLatest(),
      End: () => v.jumpToLatest(),
    }[e.key];
    if (!act || (e.key === " " && e.target.closest("button, summary"))) return;
    e.preventDefault();
    act();
  });
}
