/**
 * The reference page (/docs) and its own style sheet (/docs/assets/docs.css).
 * No inline script, style or event handler: the Content-Security-Policy of
 * routes/docs.ts allows only the server's own files. URLs are relative to the
 * page, so that it also works behind a proxy that serves kvs under a path.
 */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kvs API reference</title>
<link rel="icon" type="image/png" sizes="32x32" href="docs/assets/favicon-32x32.png">
<link rel="icon" type="image/png" sizes="16x16" href="docs/assets/favicon-16x16.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="stylesheet" href="docs/assets/docs.css">
<script src="docs/assets/swagger-ui-bundle.js" defer></script>
<script src="docs/assets/init.js" defer></script>
</head>
<body>
<noscript><p class="kvs-message">This reference needs JavaScript. The API description it shows is <a href="v1/openapi.json">/v1/openapi.json</a>; the contract in prose is docs/API.md.</p></noscript>
<section id="kvs-gate" class="kvs-gate" hidden>
  <h1>kvs API reference</h1>
  <p>This server needs a token to show its API description.</p>
  <form id="kvs-token-form">
    <label for="kvs-token">Bearer token</label>
    <input id="kvs-token" name="token" type="password" autocomplete="off" spellcheck="false" required>
    <button id="kvs-token-submit" type="submit">Show the reference</button>
  </form>
  <p id="kvs-token-refused" class="kvs-refused" role="alert" hidden></p>
  <p class="kvs-note">The token stays in this tab (session storage) and is sent only to this server.</p>
</section>
<p id="kvs-status" class="kvs-message" role="status" hidden></p>
<p id="kvs-session" class="kvs-session" hidden>Requests from this page carry the token you entered. <button id="kvs-forget" type="button">Forget it</button></p>
<div id="swagger-ui"></div>
</body>
</html>
`;

export const DOCS_CSS = `body {
  margin: 0;
  background: #fafafa;
  color: #3b4151;
  font-family: sans-serif;
}
[hidden] {
  display: none !important;
}
.kvs-gate {
  max-width: 30rem;
  margin: 4rem auto;
  padding: 1.5rem 2rem;
  background: #fff;
  border: 1px solid #d8dde7;
  border-radius: 4px;
}
.kvs-gate h1 {
  margin-top: 0;
  font-size: 1.5rem;
}
.kvs-gate label {
  display: block;
  margin-bottom: 0.4rem;
  font-weight: bold;
}
.kvs-gate input {
  box-sizing: border-box;
  width: 100%;
  padding: 0.5rem;
  font-size: 1rem;
  border: 1px solid #d8dde7;
  border-radius: 4px;
}
.kvs-gate button,
.kvs-session button {
  margin-top: 0.8rem;
  padding: 0.45rem 1rem;
  font-size: 0.95rem;
  color: #fff;
  background: #4990e2;
  border: 0;
  border-radius: 4px;
  cursor: pointer;
}
.kvs-gate button:disabled {
  background: #9fb8d6;
  cursor: progress;
}
.kvs-refused {
  padding: 0.6rem 0.8rem;
  color: #8a1f11;
  background: #fdecea;
  border-left: 4px solid #f93e3e;
}
.kvs-note {
  font-size: 0.85rem;
  color: #6b7280;
}
.kvs-message {
  max-width: 1460px;
  margin: 1rem auto;
  padding: 0 20px;
}
.kvs-session {
  max-width: 1460px;
  margin: 0 auto;
  padding: 0.4rem 20px;
  font-size: 0.9rem;
}
.kvs-session button {
  margin: 0 0 0 0.5rem;
  padding: 0.2rem 0.6rem;
  font-size: 0.85rem;
}
`;
