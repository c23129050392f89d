/**
 * The registry's leases: IDs derived from what a lease is for (so a lost grant answer is adopted,
 * never leaked), granting ahead, revoking with retry, and the in-memory queue of leases a revoke
 * could not reach etcd for.
 */
import { EtcdLeaseInvalidError, GRPCFailedPreconditionError } from 'etcd3';
import { createHash } from 'node:crypto';
import { DependencyError, errorMessage } from '../errors';
import { callDeadline } from './client';
import { keepAliveLeases } from './keepalive';
import type { EtcdContext } from './operations';

/** How long a revoke that cannot reach etcd is tried again (a leader election takes a few seconds). */
const REVOKE_RETRY_MS = 6000;

/** Most leases remembered for a later revoke; past that they are left to expire by their TTL. */
const MAX_UNREVOKED = 1000;

/** Options of {@link Leases.grant}. */
export interface GrantOptions {
  /**
   * What the lease is for (e.g. {@link taskLeaseName}); the lease ID is derived from it, so every
   * grant for the same purpose asks for the same ID. Without it etcd picks a fresh ID.
   */
  readonly name?: string;
}

/**
 * Bits of a derived lease ID that say which deployment granted it: the low bits. etcd's own lease
 * IDs carry the granting member's ID in their top 16 bits and a clock and counter in the low ones,
 * so a tag in the top bits could equal a member's ID and mark every lease that member hands out;
 * in the low bits, one lease etcd chose in 2^16 carries a given tag, and so do two deployments' tags.
 */
export const LEASE_TAG_BITS = 16;
const TAG_BITS = BigInt(LEASE_TAG_BITS);
const TAG_MASK = (1n << TAG_BITS) - 1n;
/** Bits of the name's hash above the tag, below the sign bit. */
const NAME_BITS = 63n - TAG_BITS;

/**
 * The tag of a deployment's lease IDs: {@link LEASE_TAG_BITS} bits of the SHA-256 of its state
 * namespace (`STATE_PREFIX`, one per deployment). Lease IDs are etcd-wide while key prefixes are
 * not, so the tag is how a deployment tells the leases it granted from everyone else's.
 */
export function leaseTagFor(statePrefix: string): bigint {
  let tag = tags.get(statePrefix);
  if (tag === undefined) {
    const hash = createHash('sha256').update(`lease-tag\u0000${statePrefix}`).digest();
    tag = hash.readBigUInt64BE(0) & TAG_MASK;
    tags.set(statePrefix, tag);
  }
  return tag;
}

/** Tags computed so far: a sweep asks for one per lease of the cluster. */
const tags = new Map<string, bigint>();

/** True when `leaseId` carries the tag of the deployment whose state namespace is `statePrefix`. */
export function hasLeaseTag(leaseId: string, statePrefix: string): boolean {
  let id: bigint;
  try {
    id = BigInt(leaseId);
  } catch {
    return false;
  }
  return id > 0n && id < 1n << 63n && (id & TAG_MASK) === leaseTagFor(statePrefix);
}

/**
 * The lease ID for a name in a deployment: 47 bits of the SHA-256 of the name, then the
 * deployment's tag ({@link leaseTagFor}) in the low bits; positive and never 0 (0 asks etcd to
 * choose). A retried or redelivered grant for the same purpose asks for the same ID and etcd
 * answers "lease already exists" when the first grant was applied, so no lease is ever granted
 * without an owner knowing it, and a lease left holding nothing is recognisably this deployment's
 * ({@link hasLeaseTag}). Leases granted before the tag existed (63 bits of the name's hash) keep
 * working: records store their lease ID.
 */
export function leaseIdFor(name: string, statePrefix: string): string {
  const hash = createHash('sha256').update(statePrefix).update('\u0000').update(name).digest().readBigUInt64BE(0);
  let high = hash & ((1n << NAME_BITS) - 1n);
  const tag = leaseTagFor(statePrefix);
  if (high === 0n && tag === 0n) high = 1n;
  return String((high << TAG_BITS) | tag);
}

/** Name of the lease a task's record and keys hang on for one event version. */
export function taskLeaseName(task: { readonly taskArn: string; readonly version: number }): string {
  return `task\u0000${task.taskArn}\u0000${task.version}`;
}

/** Name of the lease a task's tombstone hangs on. */
export function tombstoneLeaseName(taskArn: string): string {
  return `tombstone\u0000${taskArn}`;
}

/** True when etcd refused a grant because a lease with the requested ID exists. */
function isLeaseExists(err: unknown): boolean {
  const cause = err instanceof DependencyError ? err.cause : err;
  // etcd's fixed server message; etcd3 types it only as a failed precondition.
  return (
    cause instanceof GRPCFailedPreconditionError && errorMessage(cause).includes('etcdserver: lease already exists')
  );
}

/** Grants, adopts and revokes the registry's leases; one per {@link Registry}. */
export class Leases {
  /** Leases a revoke could not reach etcd for, revoked on a later grant (see {@link Leases.revoke}). */
  private readonly unrevoked = new Set<string>();

  constructor(private readonly ctx: EtcdContext) {}

  /**
   * Grants a lease of `ttl` seconds and returns its ID. With `name`, the ID is derived from it
   * ({@link leaseIdFor}): a grant etcd applied but whose answer was lost (a leader election, a
   * deadline) is found by the next grant of the same name, in this process or a redelivered
   * invocation, and adopted (renewed to its full TTL) instead of being left behind unowned.
   */
  async grant(ttl: number, options: GrantOptions = {}): Promise<string> {
    if (this.unrevoked.size > 0) await this.revokeLeftovers();
    const ID = options.name === undefined ? undefined : leaseIdFor(options.name, this.ctx.config.statePrefix);
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.ctx.call('lease grant', () =>
          this.ctx.client.leaseClient.leaseGrant(ID === undefined ? { TTL: ttl } : { TTL: ttl, ID }),
        );
        return res.ID;
      } catch (err) {
        if (ID === undefined || attempt > 0 || !isLeaseExists(err)) throw err;
      }
      // The lease exists: granted earlier for the same purpose. Renew it so a write on it gets a
      // full TTL; if it expired in between, its ID is free and the next turn grants it afresh.
      const kept = await keepAliveLeases(this.ctx.client, [ID], {
        streams: 1,
        inFlight: 1,
        timeoutMs: Math.max(100, callDeadline(REVOKE_RETRY_MS) - Date.now()),
      });
      if (kept.alive.has(ID)) return ID;
      const failure = kept.failed.get(ID);
      if (failure !== undefined) throw new DependencyError('etcd', `lease keepalive failed: ${failure}`);
    }
  }

  /**
   * Starts granting a task lease ahead of knowing whether it will be needed, so the round trip
   * overlaps other work. The result goes to a write, or back through {@link release}.
   *
   * @param forTask the task and event version the lease is for: its ID is derived from them, so
   *   a redelivery of the same event adopts a lease whose grant answer was lost.
   */
  grantAhead(forTask?: { readonly taskArn: string; readonly version: number }): Promise<string> {
    const granted = this.grant(this.ctx.config.leaseTtlSeconds, { name: forTask && taskLeaseName(forTask) });
    // Whoever takes the lease sees a failure; until then it must not count as unhandled.
    granted.catch(() => undefined);
    return granted;
  }

  /**
   * Gives back a lease from {@link grantAhead} that turned out not to be needed. Awaited by callers:
   * a Lambda container is frozen when the handler returns, so a revoke left in flight may never leave.
   * A lease that carries keys is kept (see {@link giveBack}).
   */
  async release(granted: Promise<string>): Promise<void> {
    const leaseId = await granted.catch(() => undefined);
    if (leaseId !== undefined) await this.giveBack(leaseId);
  }

  /**
   * Revokes a lease, deleting what hangs on it. Best effort: an already expired lease is fine, and
   * an unreachable etcd is tried again for a few seconds (long enough for a leader election). If
   * etcd stays unreachable, the lease is remembered and revoked by a later grant of this process, if
   * it is still empty; else renew's orphan sweep revokes it, or it expires by its TTL.
   */
  async revoke(leaseId: string): Promise<void> {
    await this.revokeWithRetry(leaseId, false);
  }

  /**
   * Revokes a lease this process granted or adopted but does not need, only if nothing hangs on it.
   * Lease IDs are derived from what they are for, so the lease may be the one a duplicate of the
   * same event already wrote the task on, or a write whose answer was lost may have landed on it:
   * then it carries the task's record and is that task's lease now, never to be revoked here.
   */
  async giveBack(leaseId: string): Promise<void> {
    await this.revokeWithRetry(leaseId, true);
  }

  private async revokeWithRetry(leaseId: string, onlyIfEmpty: boolean): Promise<void> {
    const deadline = callDeadline(REVOKE_RETRY_MS);
    for (let pause = 200; ; pause = Math.min(pause * 2, 2000)) {
      try {
        if (onlyIfEmpty) {
          const lease = await this.ctx.client.leaseClient.leaseTimeToLive({ ID: leaseId, keys: true }, { deadline });
          if (Number(lease.TTL) <= 0 || lease.keys.length > 0) return;
        }
        await this.ctx.client.leaseClient.leaseRevoke({ ID: leaseId }, { deadline });
        return;
      } catch (err) {
        if (err instanceof EtcdLeaseInvalidError) return;
        if (Date.now() + pause >= deadline) {
          if (this.unrevoked.size < MAX_UNREVOKED) this.unrevoked.add(leaseId);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  /** Revokes the leases an earlier revoke could not reach etcd for, unless a write landed on them. */
  private async revokeLeftovers(): Promise<void> {
    for (const id of [...this.unrevoked]) {
      try {
        // The write whose failure led to the revoke may have been applied after all (its answer
        // lost): then the lease carries a task and its record, and is that task's lease now.
        const lease = await this.ctx.client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
        if (Number(lease.TTL) > 0 && lease.keys.length === 0) await this.ctx.client.leaseClient.leaseRevoke({ ID: id });
        this.unrevoked.delete(id);
      } catch (err) {
        if (!(err instanceof EtcdLeaseInvalidError)) return; // still unreachable: a later grant tries again
        this.unrevoked.delete(id);
      }
    }
  }
}
