/**
 * The orphan-lease sweep: leases this deployment granted that hold no key (a register killed
 * between its grant and its write, a renew killed between a stop's transaction and its lease
 * revoke) are revoked by the next renew tick, instead of living out their TTL.
 *
 * Which leases are this deployment's: the derived IDs carry its tag ({@link hasLeaseTag}). A lease
 * is revoked only when all of these hold, so a lease granted a moment ago by a register still on
 * its way to its write, or anyone else's lease, is never touched:
 * - its ID carries this deployment's tag, and no task record of this tick refers to it;
 * - no tombstone hangs on it (read with one keys-only listing, only when a candidate is left);
 * - etcd says it holds no key, and was granted with one of this deployment's TTLs;
 * - it was neither granted nor renewed for longer than `ORPHAN_GRACE_SECONDS` (granted TTL minus
 *   remaining TTL), longer than any register takes from its grant to its write.
 * Bounded: one LeaseLeases call, at most {@link MAX_CHECKS} lease reads and revokes per tick (the
 * rest wait for the next), none started past the caller's stop time.
 */
import { EtcdLeaseInvalidError } from 'etcd3';
import { tombstonesPrefix } from '../keys';
import { errorMessage } from '../errors';
import { hasLeaseTag } from './leases';
import type { EtcdContext } from './operations';
import { listKeyLeases } from './reads';

/** Most leases read (and revoked) by one sweep. */
export const MAX_CHECKS = 1000;

/** Most failures a sweep reports (the rest are alike, and tried again next tick). */
const MAX_ERRORS = 10;

/** What one sweep found and did. */
export interface OrphanSweep {
  /** Leases etcd listed (every lease of the cluster, anyone's). */
  readonly listed: number;
  /** Leases carrying this deployment's tag that no record or tombstone refers to. */
  readonly candidates: number;
  /** Candidates whose keys and TTL were read. */
  readonly checked: number;
  /** Orphans revoked (a dry run counts those it would revoke). */
  readonly revoked: number;
  /** Candidates left for the next tick: over {@link MAX_CHECKS}, or past the stop time. */
  readonly left: number;
  /** False when the tick had no time left for the sweep (it runs next tick). */
  readonly ran: boolean;
  /** Reads or revokes that failed (the lease is tried again next tick), and why the sweep stopped, if it did. */
  readonly errors: string[];
  readonly durationMs: number;
}

/** What {@link sweepOrphanLeases} is told. */
export interface SweepInput {
  /** Lease IDs the tick's task records (and their keys) refer to: never candidates. */
  readonly referenced: ReadonlySet<string>;
  /** Count what would be revoked, revoke nothing. */
  readonly dryRun: boolean;
  /** Lease reads in flight at once. */
  readonly concurrency: number;
  /** No read or revoke starts after this (ms since epoch). */
  readonly stopAt?: number;
}

/** The leases to look at: this deployment's tag, referred to by nothing the tick read. */
export function orphanCandidates(
  leaseIds: Iterable<string>,
  statePrefix: string,
  referenced: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (const id of leaseIds) if (!referenced.has(id) && hasLeaseTag(id, statePrefix)) out.push(id);
  return out;
}

/** What etcd says about one lease (LeaseTimeToLive with keys). */
export interface LeaseFacts {
  readonly ttl: number;
  readonly grantedTtl: number;
  readonly keys: number;
}

/**
 * True when a candidate is an orphan: alive, holding no key, granted with one of `ttls`, and
 * neither granted nor renewed for more than `graceSeconds` (etcd rounds the remaining TTL down, so
 * granted minus remaining is the age rounded up).
 */
export function isOrphan(lease: LeaseFacts, ttls: readonly number[], graceSeconds: number): boolean {
  return (
    lease.ttl > 0 && lease.keys === 0 && ttls.includes(lease.grantedTtl) && lease.grantedTtl - lease.ttl > graceSeconds
  );
}

/** Context of a sweep: the etcd context with the TTLs and the grace of this deployment. */
export type SweepContext = EtcdContext & {
  readonly config: EtcdContext['config'] & { readonly orphanGraceSeconds?: number };
};

/** `ORPHAN_GRACE_SECONDS`' default, for a registry built without it. */
const DEFAULT_GRACE_SECONDS = 30;

/** Finds and revokes this deployment's orphan leases (see the module comment). Never throws. */
export async function sweepOrphanLeases(ctx: SweepContext, input: SweepInput): Promise<OrphanSweep> {
  const started = performance.now();
  const errors: string[] = [];
  const report = (listed: number, candidates: number, checked: number, revoked: number, left: number, ran = true) => ({
    listed,
    candidates,
    checked,
    revoked,
    left,
    ran,
    errors,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
  });
  if (input.stopAt !== undefined && Date.now() >= input.stopAt) return report(0, 0, 0, 0, 0, false);
  const { statePrefix, leaseTtlSeconds, tombstoneTtlSeconds } = ctx.config;
  const grace = ctx.config.orphanGraceSeconds ?? DEFAULT_GRACE_SECONDS;
  let all: string[];
  let candidates: string[];
  try {
    all = (await ctx.call('list leases', () => ctx.client.leaseClient.leaseLeases())).leases.map((l) => String(l.ID));
    candidates = orphanCandidates(all, statePrefix, input.referenced);
    if (candidates.length > 0) {
      // Tombstones hang on their own long leases, which no record refers to.
      const tombstones = await listKeyLeases(ctx, tombstonesPrefix(statePrefix));
      const held = new Set(tombstones.values());
      candidates = candidates.filter((id) => !held.has(id));
    }
  } catch (err) {
    errors.push(`orphan sweep: ${errorMessage(err)}`);
    return report(0, 0, 0, 0, 0);
  }
  const batch = candidates.slice(0, MAX_CHECKS);
  let next = 0;
  let checked = 0;
  let revoked = 0;
  const ttls = [leaseTtlSeconds, tombstoneTtlSeconds];
  const worker = async () => {
    while (next < batch.length && (input.stopAt === undefined || Date.now() < input.stopAt)) {
      const ID = batch[next++]!;
      try {
        const lease = await ctx.call('lease keys', () => ctx.client.leaseClient.leaseTimeToLive({ ID, keys: true }));
        checked++;
        const facts = { ttl: Number(lease.TTL), grantedTtl: Number(lease.grantedTTL), keys: lease.keys.length };
        if (!isOrphan(facts, ttls, grace)) continue;
        if (!input.dryRun) await ctx.call('revoke orphan lease', () => ctx.client.leaseClient.leaseRevoke({ ID }));
        revoked++;
      } catch (err) {
        // Expired or revoked in between: nothing left to do.
        const cause = (err as { cause?: unknown }).cause ?? err;
        if (!(cause instanceof EtcdLeaseInvalidError) && errors.length < MAX_ERRORS)
          errors.push(`lease ${ID}: ${errorMessage(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, batch.length)) }, worker));
  return report(all.length, candidates.length, checked, revoked, candidates.length - next);
}
