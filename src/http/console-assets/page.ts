/**
 * The web console's page (`GET /`), style sheet and icon, as module text
 * (tsc copies no other files into dist/, and the package ships dist/src).
 * The page holds no script but the import map, whose hash the
 * Content-Security-Policy of routes/console.ts allows; no inline style or
 * event handler. Its URLs are relative, so that the console also works behind
 * a proxy that serves kvs under a path (open it with a trailing slash).
 * Everything else is built by the browser code (src/web), with the DOM's
 * methods, never from HTML text.
 */

/** The page: `importMap` is the exact text the CSP hash was computed from; `preloads` the modules to fetch at once. */
export function consoleHtml(importMap: string, entry: string, preloads: readonly string[]): string {
  const preloadLinks = preloads.map((path) => `<link rel="modulepreload" href="${path}">`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>kvs console</title>
<link rel="icon" type="image/svg+xml" href="console/web/favicon.svg">
<link rel="stylesheet" href="console/web/console.css">
<script type="importmap">${importMap}</script>
${preloadLinks}
<script type="module" src="${entry}"></script>
</head>
<body>
<noscript><p class="noscript">The kvs console needs JavaScript. The HTTP API is described at <a href="docs">/docs</a>.</p></noscript>
<div class="app" id="app">
<header class="top">
  <a class="brand" href="./"><img src="console/web/favicon.svg" alt="" width="22" height="22"><span>kvs</span><span class="brand-sub">console</span></a>
  <div class="search" role="search">
    <label for="filter">Filter</label>
    <input id="filter" type="search" placeholder="key prefix, across all levels (e.g. app/config)" autocomplete="off" spellcheck="false">
  </div>
  <div class="views" role="group" aria-label="Show keys as">
    <button type="button" id="view-tree" aria-pressed="true">Tree</button>
    <button type="button" id="view-list" aria-pressed="false">List</button>
  </div>
  <button type="button" id="new-key" class="primary" hidden>New key</button>
</header>
<main class="panes">
  <nav class="browser" id="browser" aria-label="Keys"></nav>
  <section class="detail" id="detail" aria-label="Selected key"></section>
</main>
<footer class="status" id="status" aria-label="Server status"></footer>
</div>
<div class="notice" id="notice" role="status" aria-live="polite" hidden></div>
</body>
</html>
`;
}

/** An icon of three stacked key-value rows: served as an image, never inline. */
export const CONSOLE_FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#2563eb"/>
<rect x="7" y="8" width="7" height="4" rx="1.5" fill="#fff"/><rect x="16" y="8" width="9" height="4" rx="1.5" fill="#bfdbfe"/>
<rect x="7" y="14" width="7" height="4" rx="1.5" fill="#fff"/><rect x="16" y="14" width="9" height="4" rx="1.5" fill="#bfdbfe"/>
<rect x="7" y="20" width="7" height="4" rx="1.5" fill="#fff"/><rect x="16" y="20" width="9" height="4" rx="1.5" fill="#bfdbfe"/>
</svg>
`;

export const CONSOLE_CSS = `:root {
  --bg: #f4f6f9;
  --panel: #fff;
  --line: #e1e5eb;
  --line-strong: #cdd3dc;
  --text: #1d2430;
  --muted: #636d7c;
  --accent: #2563eb;
  --accent-soft: #e3ecfe;
  --accent-strong: #1d4ed8;
  --danger: #c2261d;
  --danger-soft: #fdeceb;
  --ok: #1a7f37;
  --warn: #9a6700;
  --warn-soft: #fff6d6;
  --mono: ui-monospace, "SF Mono", "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html, body { height: 100%; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 var(--sans); }
button, input, select, textarea { font: inherit; color: inherit; }
.noscript { margin: 3rem auto; max-width: 32rem; }

.app { display: grid; grid-template-rows: auto 1fr auto; height: 100vh; }

/* Top bar */
.top { display: flex; align-items: center; gap: 14px; padding: 10px 16px; background: #141c2b; color: #e8edf5; }
.brand { display: flex; align-items: center; gap: 8px; color: #fff; text-decoration: none; font-weight: 700; font-size: 17px; letter-spacing: 0.2px; }
.brand-sub { font-weight: 400; color: #9fb0c8; }
.search { flex: 1; display: flex; align-items: center; gap: 8px; max-width: 640px; }
.search label { color: #9fb0c8; font-size: 13px; }
.search input { flex: 1; padding: 7px 10px; border: 1px solid #33415a; border-radius: 6px; background: #0c1320; color: #f3f6fb; font-family: var(--mono); font-size: 13px; }
.search input::placeholder { color: #6f7f99; font-family: var(--sans); }
.search input:focus { outline: 2px solid var(--accent); outline-offset: 0; border-color: var(--accent); }
.views { display: flex; border: 1px solid #33415a; border-radius: 6px; overflow: hidden; }
.views button { padding: 6px 12px; border: 0; background: transparent; color: #b9c6d9; cursor: pointer; }
.views button[aria-pressed="true"] { background: #2b3a55; color: #fff; }
button.primary, .button.primary { padding: 7px 14px; border: 1px solid var(--accent-strong); border-radius: 6px; background: var(--accent); color: #fff; font-weight: 600; cursor: pointer; }
button.primary:hover { background: var(--accent-strong); }
button.primary:disabled { opacity: 0.6; cursor: progress; }
button.secondary { padding: 6px 12px; border: 1px solid var(--line-strong); border-radius: 6px; background: #fff; cursor: pointer; }
button.secondary:hover { background: #f3f5f8; }
button.danger { padding: 6px 12px; border: 1px solid #e3a29d; border-radius: 6px; background: #fff; color: var(--danger); cursor: pointer; }
button.danger:hover { background: var(--danger-soft); }
button.danger.solid { background: var(--danger); border-color: var(--danger); color: #fff; font-weight: 600; }
button.link { padding: 0; border: 0; background: none; color: var(--accent); cursor: pointer; text-decoration: underline; }

/* Panes */
.panes { display: grid; grid-template-columns: minmax(280px, 34%) 1fr; min-height: 0; }
.browser { overflow: auto; background: var(--panel); border-right: 1px solid var(--line); padding: 8px 0 16px; }
.detail { overflow: auto; padding: 20px 26px 32px; min-width: 0; }

/* Key browser */
.browser-head { display: flex; align-items: baseline; justify-content: space-between; gap: 8px; padding: 4px 14px 8px; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.6px; }
.browser-head .where { font-family: var(--mono); text-transform: none; letter-spacing: 0; color: var(--text); overflow-wrap: anywhere; }
.level { list-style: none; margin: 0; padding: 0; }
.level .level { padding-left: 16px; }
.entry { display: flex; align-items: center; gap: 6px; width: 100%; min-height: 28px; padding: 3px 12px 3px 10px; border: 0; border-left: 3px solid transparent; background: none; text-align: left; cursor: pointer; }
.entry:hover { background: #f2f6fd; }
.entry:focus-visible { outline: 2px solid var(--accent); outline-offset: -2px; }
.entry[aria-current="true"] { background: var(--accent-soft); border-left-color: var(--accent); }
.entry .twisty { width: 14px; flex: none; color: var(--muted); font-size: 11px; text-align: center; }
.entry .icon { width: 16px; flex: none; text-align: center; color: var(--muted); font-size: 12px; }
.entry .icon::before { content: ""; display: inline-block; vertical-align: middle; }
.entry.folder .icon::before { width: 14px; height: 10px; border-radius: 1px 3px 2px 2px; background: #e3a72f; box-shadow: inset 0 3px 0 #f2c766; }
.entry.key .icon::before { width: 8px; height: 8px; border-radius: 2px; background: #94a3b8; }
.entry.key[data-kind="json"] .icon::before { background: #3b7be8; }
.entry.key[data-kind="text"] .icon::before { background: #2f9e57; }
.entry.key[data-kind="image"] .icon::before { background: #9b51e0; }
.entry .name { flex: 1; min-width: 0; font-family: var(--mono); font-size: 13px; white-space: pre; overflow: hidden; text-overflow: ellipsis; unicode-bidi: isolate; }
.entry.folder .name { font-weight: 600; }
.entry .meta { flex: none; color: var(--muted); font-size: 11.5px; white-space: nowrap; }
.entry mark { background: #fff0b3; color: inherit; border-radius: 2px; }
.entry.flash { animation: flash 1.2s ease-out; }
@keyframes flash { from { background: #fff3bf; } to { background: transparent; } }
.placeholder { font-style: italic; color: var(--muted); font-family: var(--sans); }
.ctl { padding: 0 2px; border: 1px solid #d7b25a; border-radius: 3px; background: #fff7dc; color: #7a5300; font-size: 0.85em; }
.level-foot { display: flex; align-items: center; gap: 10px; padding: 5px 14px 5px 30px; color: var(--muted); font-size: 12px; }
.level-foot button { padding: 2px 10px; border: 1px solid var(--line-strong); border-radius: 5px; background: #fff; cursor: pointer; font-size: 12px; }
.level-note { padding: 8px 14px 8px 30px; color: var(--muted); font-size: 13px; }
.level-note.refused { color: #7a3c00; background: var(--warn-soft); border-left: 3px solid #e0b000; margin: 4px 10px; padding: 8px 10px; border-radius: 4px; }
.level-note.error { color: var(--danger); }

/* Detail pane */
.detail-empty { margin-top: 12vh; text-align: center; color: var(--muted); }
.detail-empty h2 { color: var(--text); font-weight: 600; font-size: 18px; }
.key-head { display: flex; align-items: flex-start; gap: 12px; margin-bottom: 14px; }
.key-head h2 { flex: 1; min-width: 0; margin: 0; font-family: var(--mono); font-size: 18px; font-weight: 600; white-space: pre-wrap; overflow-wrap: anywhere; unicode-bidi: isolate; }
.key-head .kind { flex: none; margin-top: 2px; padding: 2px 8px; border-radius: 10px; background: #eef1f5; color: var(--muted); font-size: 12px; }
.actions { display: flex; flex: none; gap: 8px; }
.meta-grid { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 1px; margin: 0 0 16px; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; background: var(--line); }
.meta-grid div { padding: 8px 12px; background: var(--panel); }
.meta-grid .wide { grid-column: span 2; }
.meta-grid dt { color: var(--muted); font-size: 11.5px; text-transform: uppercase; letter-spacing: 0.5px; }
.meta-grid dd { margin: 2px 0 0; font-family: var(--mono); font-size: 13px; overflow-wrap: anywhere; }
.tabs { display: flex; gap: 2px; border-bottom: 1px solid var(--line); }
.tabs button { padding: 6px 14px; border: 1px solid transparent; border-bottom: 0; border-radius: 6px 6px 0 0; background: none; color: var(--muted); cursor: pointer; }
.tabs button[aria-selected="true"] { border-color: var(--line); background: var(--panel); color: var(--text); font-weight: 600; margin-bottom: -1px; }
.tabs .spacer { flex: 1; }
.tabs a { align-self: center; padding: 4px 8px; color: var(--accent); font-size: 13px; }
.value-box { border: 1px solid var(--line); border-top: 0; border-radius: 0 0 8px 8px; background: var(--panel); }
.value { margin: 0; padding: 14px 16px; overflow: auto; max-height: calc(100vh - 300px); min-height: 120px; font: 13px/1.55 var(--mono); white-space: pre-wrap; overflow-wrap: anywhere; tab-size: 2; }
.value.hex { white-space: pre; }
.value.empty { color: var(--muted); font-style: italic; font-family: var(--sans); }
.value-image { padding: 16px; background: repeating-conic-gradient(#eef0f3 0% 25%, #fff 0% 50%) 50% / 20px 20px; text-align: center; }
.value-image img { max-width: 100%; max-height: 60vh; box-shadow: 0 1px 4px rgba(15, 23, 42, 0.18); }
.value-image img.small { width: 192px; max-width: none; image-rendering: pixelated; }
.value-image .image-size { margin: 10px 0 0; color: var(--muted); font-size: 12px; }
.truncated { padding: 8px 14px; border-top: 1px solid var(--line); color: var(--warn); background: var(--warn-soft); font-size: 13px; }
.j-key { color: #0b4f9c; }
.j-str { color: #146c2e; }
.j-num { color: #a24a00; }
.j-lit { color: #7c3aed; font-weight: 600; }
.j-punct { color: #6b7280; }
.banner { display: flex; align-items: center; gap: 12px; margin: 0 0 14px; padding: 10px 14px; border-radius: 6px; border: 1px solid; }
.banner.info { border-color: #bcd0f7; background: #eef4ff; }
.banner.warn { border-color: #ecd27f; background: var(--warn-soft); color: #5c4300; }
.banner.error { border-color: #efb8b4; background: var(--danger-soft); color: #7d1a14; }
.banner p { flex: 1; margin: 0; }

/* Editor */
.editor h2 { margin: 0 0 16px; font-size: 18px; }
.editor h2 code { font-family: var(--mono); white-space: pre-wrap; overflow-wrap: anywhere; }
.field { display: flex; flex-direction: column; gap: 4px; margin-bottom: 14px; }
.field label { font-weight: 600; font-size: 13px; }
.field .hint { color: var(--muted); font-size: 12px; }
.field input, .field select, .field textarea { padding: 7px 9px; border: 1px solid var(--line-strong); border-radius: 6px; background: #fff; }
.field input:focus, .field select:focus, .field textarea:focus { outline: 2px solid var(--accent); outline-offset: -1px; border-color: var(--accent); }
.field textarea { min-height: 260px; resize: vertical; font: 13px/1.5 var(--mono); tab-size: 2; }
.field-row { display: grid; grid-template-columns: 2fr 1fr 1fr; gap: 14px; }
.mono { font-family: var(--mono); }
.form-actions { display: flex; gap: 10px; align-items: center; }
.form-error { margin: 0 0 12px; padding: 9px 12px; border-radius: 6px; background: var(--danger-soft); color: #7d1a14; border: 1px solid #efb8b4; }
.conflict h3 { margin: 0 0 10px; font-size: 16px; }
.versions { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; margin: 12px 0 16px; }
.versions section { min-width: 0; border: 1px solid var(--line); border-radius: 8px; background: var(--panel); }
.versions h4 { margin: 0; padding: 8px 12px; border-bottom: 1px solid var(--line); font-size: 13px; }
.versions pre { margin: 0; padding: 10px 12px; max-height: 40vh; overflow: auto; font: 12.5px/1.5 var(--mono); white-space: pre-wrap; overflow-wrap: anywhere; }

/* Dialogs */
dialog { width: min(460px, 92vw); padding: 0; border: 1px solid var(--line-strong); border-radius: 10px; box-shadow: 0 18px 50px rgba(15, 23, 42, 0.28); color: var(--text); }
dialog::backdrop { background: rgba(15, 23, 42, 0.45); }
dialog form, dialog .dialog-body { padding: 20px 22px; }
dialog h2 { margin: 0 0 10px; font-size: 17px; }
dialog p { margin: 0 0 12px; }
dialog .dialog-actions { display: flex; justify-content: flex-end; gap: 10px; margin-top: 16px; }
dialog input { width: 100%; padding: 8px 10px; border: 1px solid var(--line-strong); border-radius: 6px; font-family: var(--mono); }
dialog label { display: block; margin-bottom: 5px; font-weight: 600; }
dialog .refused { padding: 8px 10px; border-radius: 6px; background: var(--danger-soft); color: #7d1a14; }
dialog .note { color: var(--muted); font-size: 12.5px; }
dialog code { font-family: var(--mono); white-space: pre-wrap; overflow-wrap: anywhere; }

/* Status bar */
.status { display: flex; align-items: center; gap: 0; padding: 0 10px; min-height: 30px; border-top: 1px solid var(--line); background: #eef1f5; color: var(--muted); font-size: 12.5px; }
.status .item { padding: 5px 10px; border-right: 1px solid var(--line-strong); white-space: nowrap; }
.status .item:last-child { border-right: 0; }
.status .item b { color: var(--text); font-weight: 600; font-family: var(--mono); font-size: 12px; }
.status .grow { flex: 1; }
.status .dot { display: inline-block; width: 8px; height: 8px; margin-right: 6px; border-radius: 50%; background: #9aa4b2; vertical-align: 0; }
.status .live .dot { background: #2da44e; box-shadow: 0 0 0 3px rgba(45, 164, 78, 0.18); }
.status .reconnecting .dot, .status .connecting .dot { background: #d4a72c; }
.status .off .dot { background: #cf222e; }
.status .unknown { color: #8b95a3; font-style: italic; }

.notice { position: fixed; right: 18px; bottom: 44px; max-width: 420px; padding: 10px 14px; border-radius: 8px; background: #1d2430; color: #fff; box-shadow: 0 8px 24px rgba(15, 23, 42, 0.3); font-size: 13px; }
.notice.error { background: #8f1d17; }
`;
