import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { allows, ANY_TOKEN, type Access } from '../../auth/access.js';
import { LOCAL_PRINCIPAL, type Gatekeeper } from '../../auth/gatekeeper.js';
import type { Principal } from '../../auth/tokens.js';
import { KvError } from '../../core/errors.js';

/** What a route needs: fixed, or worked out from the request once its body is parsed. */
export type AccessRule = Access | ((request: FastifyRequest) => Access);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Every route must say what it needs (see installAccessControl). */
    access?: AccessRule;
  }
  interface FastifyRequest {
    /** Who is asking, once admitted. */
    principal: Principal;
  }
}

/** Where a request comes from. The default is the socket's peer; tests may substitute their own. */
export type ClientAddress = (request: IncomingMessage) => string | undefined;

export const socketAddress: ClientAddress = (request) => request.socket.remoteAddress;

/**
 * Access control on every route (API.md §10). A route without an `access`
 * rule fails the server's start, so none can be forgotten; the 404/405
 * handler needs a token. Two steps: `onRequest` admits the request (token,
 * protected mode, rate limit) and checks a fixed rule before the body is read;
 * `preHandler` checks a rule that depends on the request (a txn's keys need
 * its parsed body).
 */
export function installAccessControl(app: FastifyInstance, gatekeeper: Gatekeeper, clientAddress: ClientAddress): void {
  app.decorateRequest('principal', null as unknown as Principal);

  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined) {
      throw new Error(`route ${route.method} ${route.url} declares no access rule (config.access)`);
    }
  });

  app.addHook('onRequest', (request, _reply, done) => {
    const rule = request.routeOptions.config?.access ?? ANY_TOKEN;
    if (typeof rule !== 'function' && rule.kind === 'public') {
      request.principal = LOCAL_PRINCIPAL;
      done();
      return;
    }
    const admission = gatekeeper.admit(request.headers.authorization, clientAddress(request.raw));
    if (!admission.ok) {
      done(admission.error);
      return;
    }
    request.principal = admission.principal;
    // A fixed rule is checked now, before a body (an import, say) is read for nothing.
    done(typeof rule === 'function' || allows(admission.principal, rule) ? undefined : forbidden(admission.principal));
  });

  app.addHook('preHandler', (request, _reply, done) => {
    const rule = request.routeOptions.config?.access ?? ANY_TOKEN;
    if (typeof rule !== 'function') {
      done();
      return;
    }
    try {
      done(allows(request.principal, rule(request)) ? undefined : forbidden(request.principal));
    } catch (error) {
      done(error as Error);
    }
  });
}

function forbidden(principal: Principal): KvError {
  return new KvError('forbidden', `the token "${principal.name}" has no grant for this request`);
}
