/**
 * keepAliveLeases against a real etcd: a round that takes longer than the timeout still renews
 * every lease while answers keep coming (the timeout bounds a stall, not the round), so renew
 * renews every lease whatever N.
 */
import { Etcd3 } from 'etcd3';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { keepAliveLeases } from '../../../lib/etcd/keepalive';

let client: Etcd3;
let leases: string[] = [];
beforeAll(async () => {
  client = new Etcd3({ hosts: inject('etcdEndpoint') });
  const limit = pLimit(32);
  leases = await Promise.all(
    Array.from({ length: 1500 }, () =>
      limit(async () => String((await client.leaseClient.leaseGrant({ TTL: 60 })).ID)),
    ),
  );
});
afterAll(async () => {
  const limit = pLimit(32);
  await Promise.all(leases.map((ID) => limit(() => client.leaseClient.leaseRevoke({ ID }).catch(() => undefined))));
  client?.close();
});

describe('keepAliveLeases', () => {
  it('renews every lease of a round that lasts longer than its timeout, as long as answers keep coming', async () => {
    const timeoutMs = 250;
    const started = Date.now();
    // One request in flight on one stream: 1,500 sequential round trips.
    const result = await keepAliveLeases(client, leases, { streams: 1, inFlight: 1, timeoutMs });
    const elapsed = Date.now() - started;
    expect(result.failed).toEqual(new Map());
    expect(result.alive.size).toBe(leases.length);
    // Only meaningful if the round did outlast the timeout (1,500 round trips on a local etcd do).
    expect(elapsed).toBeGreaterThan(timeoutMs);
  });
});
