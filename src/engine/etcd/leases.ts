import { ETCD_LEASE_IDLE_MS } from '../../core/limits.js';
import type { EtcdClient } from './etcd-client.js';

/**
 * TTLs as etcd leases, one per expiry second rather than one per key: every
 * key that expires within the same wall-clock second shares a lease, so a
 * million keys with TTLs cost at most one lease per second of deadlines, and
 * their removal is one etcd revision per second.
 *
 * A lease never fires before any of its keys' deadlines: the lease for second
 * S is granted to last until at least the end of S (etcd may round a short TTL
 * up to its minimum, which only delays removal). Reads never wait for the
 * lease: each record carries its exact deadline, and an entry past it is
 * treated as absent (StorageEngine's contract), so a lease's timing only
 * decides when the `expire` event appears.
 */
export class LeasePool {
  /** Expiry second → the granted lease's ID, shared by every put expiring in that second. */
  private readonly bySecond = new Map<number, { lease: Promise<string>; id: string | null; usedAtMs: number }>();

  constructor(
    private readonly client: EtcdClient,
    private readonly now: () => number,
  ) {}

  /** The lease a key expiring at `expiresAtMs` is attached to. */
  leaseFor(expiresAtMs: number): Promise<string> {
    const second = Math.floor(expiresAtMs / 1000);
    const known = this.bySecond.get(second);
    if (known !== undefined) {
      known.usedAtMs = this.now();
      return known.lease;
    }
    this.forgetPast();
    const ttlSeconds = Math.max(1, Math.ceil(((second + 1) * 1000 - this.now()) / 1000));
    const slot: { lease: Promise<string>; id: string | null; usedAtMs: number } = { lease: Promise.resolve(''), id: null, usedAtMs: this.now() };
    slot.lease = this.client.write(this.client.methods.leaseGrant, { TTL: ttlSeconds, ID: 0 }).then((granted) => {
      if (granted.error) throw new Error(`etcd refused a lease: ${granted.error}`);
      slot.id = granted.ID;
      return granted.ID;
    });
    slot.lease.catch(() => {
      if (this.bySecond.get(second) === slot) this.bySecond.delete(second); // the next put asks again
    });
    this.bySecond.set(second, slot);
    return slot.lease;
  }

  /** The lease was revoked or has expired (etcd said so): the next put for its second gets a new one. */
  forget(leaseId: string): void {
    for (const [second, slot] of this.bySecond) if (slot.id === leaseId) this.bySecond.delete(second);
  }

  /**
   * Drops leases whose second is over, and leases no write asked for lately:
   * with long TTLs, each second of writes has its own expiry second, and
   * keeping them all would grow with the TTL. A dropped lease still expires
   * on its own; a later write for its second just gets a new one.
   */
  private forgetPast(): void {
    const now = this.now();
    const current = Math.floor(now / 1000);
    for (const [second, slot] of this.bySecond) {
      if (second < current || now - slot.usedAtMs > ETCD_LEASE_IDLE_MS) this.bySecond.delete(second);
    }
  }
}
