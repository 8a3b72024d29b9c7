import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Keep-alive while the server closes: long enough for a response to be read, short enough not to delay shutdown. */
const CLOSING_KEEP_ALIVE_MS = 100;
const SWEEP_INTERVAL_MS = 50;

/**
 * Graceful close without waiting out keep-alive timeouts. Node's close() ends
 * the connections idle at that moment, but not those that become idle later
 * (a response finishing, a streamed response the client abandoned): each would
 * hold the close up for the whole keep-alive timeout (65 s). So, from the
 * start of the close, connections with no response under way are ended every
 * 50 ms, and any response finishing gets a 100 ms keep-alive. Requests being
 * answered are never cut.
 */
export function drainConnectionsOnClose(server: Server, secure: boolean): () => void {
  const sockets = new Set<Socket>();
  // With TLS, HTTP runs on the TLS socket, not on the TCP one 'connection' gives.
  server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return () => {
    server.keepAliveTimeout = CLOSING_KEEP_ALIVE_MS;
    const sweep = () => {
      for (const socket of sockets) {
        if ((socket as Socket & { _httpMessage?: unknown })._httpMessage == null) socket.destroy();
      }
      if (sockets.size === 0) clearInterval(timer);
    };
    const timer = setInterval(sweep, SWEEP_INTERVAL_MS);
    timer.unref();
    sweep();
  };
}
