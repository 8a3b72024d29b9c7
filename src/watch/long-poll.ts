import type { Revision } from '../core/types.js';
import type { WatchHub } from './hub.js';

/**
 * Waits until `key` changes after revision `after` (a put, delete or expire),
 * `timeoutMs` passes, or `signal` aborts (the client went away, or the server
 * is closing). Resolves true for a change, false otherwise. Holds nothing once
 * settled.
 *
 * Call it right after reading the key at store revision `readAt`: if the hub
 * has already published past `readAt`, a change may have slipped in between
 * the read and the subscription, so it resolves true at once and the caller
 * reads again (and, if nothing changed for this key, waits again).
 */
export function waitForChange(hub: WatchHub, key: string, after: Revision, readAt: Revision, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (changed: boolean) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(changed);
    };
    const onAbort = () => settle(false);
    const unsubscribe = hub.subscribe(
      { key },
      false,
      {
        deliver: () => {
          queueMicrotask(() => settle(true));
          return true;
        },
        evict: () => settle(true),
      },
      after,
    );
    // Also when the feed lost changes after the read (a gap): the key may have changed unseen.
    if (hub.currentRevision > readAt || readAt < hub.lostUpTo || signal.aborted) {
      settle(!signal.aborted);
      return;
    }
    timer = setTimeout(() => settle(false), timeoutMs);
    signal.addEventListener('abort', onAbort);
  });
}
