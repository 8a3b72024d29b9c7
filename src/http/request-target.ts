import type { IncomingMessage } from 'node:http';

/** An HTTP/1.1 request without Host, which RFC 9112 §3.2 says to refuse with 400 (Node's own refusal has no body). */
export function lacksHost(request: IncomingMessage): boolean {
  return request.headers.host === undefined && request.httpVersionMajor === 1 && request.httpVersionMinor === 1;
}

/**
 * Rewrites an absolute-form request target (`GET http://host/v1/kv/a`, which
 * RFC 9112 §3.2.2 requires servers to accept) to origin form (`/v1/kv/a`),
 * before routing and key parsing see it. Node passes the target through as
 * sent; without this the key would have been `host/v1/kv/a`. Origin-form
 * targets (nearly all) cost one character comparison.
 */
export function toOriginForm(request: IncomingMessage): void {
  const url = request.url;
  if (url === undefined || url.charCodeAt(0) === 47 /* "/" */ || url === '*') return;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
  if (authority === null) return;
  const rest = url.slice(authority[0].length);
  request.url = rest.startsWith('/') ? rest : `/${rest}`;
}
