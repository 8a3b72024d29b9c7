import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { CLOSING_KEEP_ALIVE_MS, CLOSING_SWEEP_INTERVAL_MS } from '../core/limits.js';

type HttpSocket = Socket & { _httpMessage?: unknown; _parent?: Socket };

/**
 * Keeps connections from outliving their use:
 *
 * - Graceful close without waiting out keep-alive: Node's close() ends the
 *   connections idle at that moment, not those that become idle later (a
 *   response finishing, a stream the client abandoned), each of which would
 *   hold the close up for the whole keep-alive timeout (65 s). From the start
 *   of the close, connections with no response under way are ended every 50 ms
 *   and a finishing response gets a 100 ms keep-alive; requests being answered
 *   are never cut. With TLS, connections still in their handshake are ended too.
 *
 * Returns what to call when the close begins.
 */
export function guardConnections(server: Server, secure: boolean): { startDraining: () => void } {
  const sockets = new Set<HttpSocket>();
  const handshaking = new Set<Socket>();

  const track = (socket: HttpSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  if (secure) {
    // HTTP runs on the TLS socket; the TCP one is only seen during the handshake (whose own timeout is set by the caller).
    server.on('connection', (raw: Socket) => {
      handshaking.add(raw);
      raw.once('close', () => handshaking.delete(raw));
    });
    server.on('secureConnection', (socket: HttpSocket) => {
      if (socket._parent !== undefined) handshaking.delete(socket._parent);
      track(socket);
    });
  } else {
    server.on('connection', track);
  }

  return {
    startDraining() {
      server.keepAliveTimeout = CLOSING_KEEP_ALIVE_MS;
      for (const raw of handshaking) raw.destroy();
      const sweep = () => {
        for (const socket of sockets) if (socket._httpMessage == null) socket.destroy();
        if (sockets.size === 0) clearInterval(timer);
      };
      const timer = setInterval(sweep, CLOSING_SWEEP_INTERVAL_MS);
      timer.unref();
      sweep();
    },
  };
}
