/**
 * Pure: the endpoints of one service as a client holds them, built from a snapshot (a Get at
 * revision R) and the watch events after it. Revisions make replays harmless: an event the snapshot
 * already holds (at or below R), or older than the last one applied, changes nothing.
 *
 * etcd gives every key of one transaction the same revision, so several events can share a
 * revision: all of them are applied. Re-applying the events of the last applied revision is
 * harmless, since one transaction changes each key at most once and nothing newer touched them.
 */
import { parseEndpoint, type DiscoveredEndpoint } from './parse.js';

/** One key/value as read from etcd. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/** One watch event, in the order etcd sent it. */
export interface EndpointEvent extends KeyValue {
  readonly type: 'put' | 'delete';
  /** The event's revision (the key's `mod_revision`). */
  readonly revision: bigint;
}

/** What a snapshot or a batch of events changed. An endpoint whose address changed is in both lists. */
export interface EndpointChange {
  readonly added: readonly DiscoveredEndpoint[];
  readonly removed: readonly DiscoveredEndpoint[];
}

/** Endpoints by key, and the etcd revision they are true at. */
export class EndpointTable {
  private byKey = new Map<string, DiscoveredEndpoint>();
  private at = -1n;
  /** Revision of the last snapshot: everything at or below it is in `byKey` already. */
  private snapshotAt = -1n;

  /** The revision the table reflects; `-1n` before the first snapshot. */
  get revision(): bigint {
    return this.at;
  }

  /** Every endpoint, sorted by address then key. */
  endpoints(): DiscoveredEndpoint[] {
    return [...this.byKey.values()].sort((a, b) => a.addr.localeCompare(b.addr) || a.key.localeCompare(b.key));
  }

  /** The distinct addresses to dial, sorted. */
  addresses(): string[] {
    return [...new Set(this.endpoints().map((e) => e.addr))];
  }

  /** Replaces everything with a snapshot read at `revision`; values without an address are left out. */
  reset(kvs: readonly KeyValue[], revision: bigint): EndpointChange {
    const next = new Map<string, DiscoveredEndpoint>();
    for (const { key, value } of kvs) {
      const endpoint = parseEndpoint(key, value);
      if (endpoint) next.set(key, endpoint);
    }
    const change = diff(this.byKey, next);
    this.byKey = next;
    this.at = revision;
    this.snapshotAt = revision;
    return change;
  }

  /**
   * Applies watch events in order. Events at or below the snapshot's revision, and events older
   * than the last revision applied, are already part of what the table holds and are skipped;
   * every event of a newer revision is applied, however many share it (one transaction). A put
   * whose value carries no address (etcd-naming `Op` 1, or a value this registrar does not write)
   * removes the key.
   */
  apply(events: readonly EndpointEvent[]): EndpointChange {
    const added: DiscoveredEndpoint[] = [];
    const removed: DiscoveredEndpoint[] = [];
    for (const event of events) {
      if (event.revision <= this.snapshotAt || event.revision < this.at) continue;
      this.at = event.revision;
      const before = this.byKey.get(event.key);
      const after = event.type === 'put' ? parseEndpoint(event.key, event.value) : undefined;
      if (before?.addr === after?.addr) {
        if (after) this.byKey.set(event.key, after);
        continue;
      }
      if (before) removed.push(before);
      if (after) {
        added.push(after);
        this.byKey.set(event.key, after);
      } else {
        this.byKey.delete(event.key);
      }
    }
    return { added, removed };
  }
}

/** Whether a change added or removed anything. */
export function isEmptyChange(change: EndpointChange): boolean {
  return change.added.length === 0 && change.removed.length === 0;
}

function diff(
  before: ReadonlyMap<string, DiscoveredEndpoint>,
  after: ReadonlyMap<string, DiscoveredEndpoint>,
): EndpointChange {
  const added: DiscoveredEndpoint[] = [];
  const removed: DiscoveredEndpoint[] = [];
  for (const [key, old] of before) if (after.get(key)?.addr !== old.addr) removed.push(old);
  for (const [key, now] of after) if (before.get(key)?.addr !== now.addr) added.push(now);
  return { added, removed };
}
