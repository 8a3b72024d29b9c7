/**
 * The reference page's script, served as /docs/assets/init.js (a module's
 * text rather than a .js file: tsc copies no other files into dist/, and the
 * package ships dist/src). Plain ES2017 for the browser, no template literals,
 * so that it reads the same here as in the browser.
 *
 * It fetches /v1/openapi.json; on 401 it asks for a token (kept in the tab's
 * sessionStorage), fetches again with it, and renders Swagger UI with a
 * requestInterceptor that adds the token to "Try it out" requests to this
 * server. Every text it shows is set with textContent, never as HTML.
 */
export const DOCS_INIT_SCRIPT = String.raw`(function () {
  'use strict';

  var TOKEN_KEY = 'kvs-docs-token';
  // Relative to the page, so that the reference also works behind a proxy that serves kvs under a path.
  var specUrl = new URL('v1/openapi.json', document.baseURI).href;
  var serverUrl = new URL('.', document.baseURI).href.replace(/\/$/, '');
  var origin = new URL(document.baseURI).origin;

  var gate = document.getElementById('kvs-gate');
  var form = document.getElementById('kvs-token-form');
  var input = document.getElementById('kvs-token');
  var submit = document.getElementById('kvs-token-submit');
  var refusal = document.getElementById('kvs-token-refused');
  var statusLine = document.getElementById('kvs-status');
  var session = document.getElementById('kvs-session');
  var forget = document.getElementById('kvs-forget');

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (error) {
      return null;
    }
  }

  function keepToken(token) {
    try {
      if (token === null) sessionStorage.removeItem(TOKEN_KEY);
      else sessionStorage.setItem(TOKEN_KEY, token);
    } catch (error) {
      // Storage refused (a private window's quota): the token lives as long as the page.
    }
  }

  function say(text) {
    statusLine.textContent = text;
    statusLine.hidden = text === '';
  }

  /** A problem document in words: its detail, then status and code. */
  function problemText(status, problem) {
    var detail = problem !== null && typeof problem === 'object' && typeof problem.detail === 'string' ? problem.detail : 'no details';
    var code = problem !== null && typeof problem === 'object' && typeof problem.code === 'string' ? ' ' + problem.code : '';
    return detail + ' (' + status + code + ')';
  }

  function ask(refused) {
    say('');
    gate.hidden = false;
    submit.disabled = false;
    refusal.textContent = refused;
    refusal.hidden = refused === '';
    input.value = '';
    input.focus();
  }

  function load(token) {
    var headers = { Accept: 'application/json' };
    if (token !== null) headers.Authorization = 'Bearer ' + token;
    return fetch(specUrl, { headers: headers, credentials: 'omit', cache: 'no-store' }).then(
      function (response) {
        if (response.ok) {
          return response.json().then(function (spec) {
            keepToken(token);
            render(spec, token);
          });
        }
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (problem) {
            if (response.status === 401) {
              keepToken(null);
              ask(token === null ? '' : 'kvs refused that token: ' + problemText(401, problem) + '. Check it and try again.');
              return;
            }
            gate.hidden = true;
            say('kvs did not give its API description: ' + problemText(response.status, problem) + '.');
          });
      },
      function (error) {
        gate.hidden = true;
        say('kvs could not be reached: ' + error.message + '.');
      }
    );
  }

  function sameOrigin(url) {
    try {
      return new URL(url, document.baseURI).origin === origin;
    } catch (error) {
      return false;
    }
  }

  function hasAuthorization(headers) {
    return Object.keys(headers || {}).some(function (name) {
      return name.toLowerCase() === 'authorization';
    });
  }

  function render(spec, token) {
    gate.hidden = true;
    say('');
    if (typeof window.SwaggerUIBundle !== 'function') {
      say('Swagger UI did not load (docs/assets/swagger-ui-bundle.js).');
      return;
    }
    session.hidden = token === null;
    // "Try it out" goes to the server that served this page.
    spec.servers = [{ url: serverUrl, description: 'This server' }];
    window.ui = window.SwaggerUIBundle({
      spec: spec,
      dom_id: '#swagger-ui',
      deepLinking: true,
      // Never send the document to an online validator.
      validatorUrl: null,
      docExpansion: 'list',
      defaultModelsExpandDepth: 0,
      displayRequestDuration: true,
      requestInterceptor: function (request) {
        // The session's token, unless the request has one (from the Authorize dialog); never to another origin.
        if (token !== null && sameOrigin(request.url) && !hasAuthorization(request.headers)) {
          request.headers = request.headers || {};
          request.headers.Authorization = 'Bearer ' + token;
        }
        return request;
      },
      onComplete: function () {
        // The Authorize dialog and the locks show the token in use.
        if (token !== null) window.ui.preauthorizeApiKey('bearer', token);
      },
    });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var token = input.value.trim();
    if (token === '') {
      refusal.textContent = 'Enter a token.';
      refusal.hidden = false;
      return;
    }
    submit.disabled = true;
    refusal.hidden = true;
    load(token);
  });

  forget.addEventListener('click', function () {
    keepToken(null);
    window.location.reload();
  });

  load(storedToken());
})();
`;
