/**
 * Pure helpers the CLI's commands share: what an endpoint key says about itself, which record owns
 * a key, a lease's TTL. No I/O here.
 */
import { parseEndpoint } from '../../discovery/parse';
import type { StoredRecord } from '../../etcd/registry';
import type { KeyValue, LeaseStatus, Snapshot } from '../snapshot';

/** The ID at the end of a task ARN. */
export const taskIdOf = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

/** What an endpoint key says about itself: its service, address and (where written) its task. */
export function describeEndpointKey(
  registryPrefix: string,
  kv: KeyValue,
): { service: string; address?: string; taskArn?: string; taskId?: string } {
  const rest = registryPrefix === '' ? kv.key : kv.key.slice(registryPrefix.length + 1);
  const slash = rest.indexOf('/');
  const service = slash < 0 ? rest : rest.slice(0, slash);
  const last = slash < 0 ? '' : rest.slice(slash + 1);
  const parsed = parseEndpoint(kv.key, kv.value);
  const metaArn = typeof parsed?.metadata?.taskArn === 'string' ? parsed.metadata.taskArn : undefined;
  // With KEY_FORMAT=task the last segment is `<task-id>:<port>`; an address there has dots or brackets.
  const fromKey =
    /^[A-Za-z0-9-]+:\d+$/.test(last) && !/^\d+\.\d+/.test(last) ? last.slice(0, last.lastIndexOf(':')) : undefined;
  return { service, address: parsed?.addr, taskArn: metaArn, taskId: metaArn ? taskIdOf(metaArn) : fromKey };
}

/** The TTL of a live lease; `undefined` for an expired or unread one. */
export const ttlOf = (lease: LeaseStatus | undefined) => (lease?.state === 'alive' ? lease.ttl : undefined);

/**
 * The record owning each endpoint key: one that lists it and hangs on the key's lease. Keyed by
 * `<key>\u0000<lease>`.
 */
export function owners(snapshot: Snapshot): Map<string, StoredRecord> {
  const owned = new Map<string, StoredRecord>();
  for (const stored of snapshot.records)
    for (const key of stored.record.keys) owned.set(`${key}\u0000${stored.lease}`, stored);
  return owned;
}
