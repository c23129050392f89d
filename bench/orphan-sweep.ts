/**
 * The orphan-lease sweep of a renew tick at fleet scale, on a local single-member etcd: 100,000
 * task leases the records refer to (`SWEEP_LEASES` changes it), then 10,000 tombstone leases each
 * holding its tombstone, then 1,000 orphans (tagged, holding nothing, past the grace). Printed per
 * step: the sweep's time (three sweeps in a row where nothing changes between them) and counts (one LeaseLeases call; the tombstone listing only when a
 * candidate is left; a LeaseTimeToLive per remaining candidate, at most 1,000 a tick).
 *
 *   npm run bench -- sweep
 */
import { Etcd3 } from 'etcd3';
import pLimit from 'p-limit';
import { loadConfig } from '../lib/config';
import { leaseIdFor, Registry } from '../lib/etcd/registry';
import { tombstoneKey } from '../lib/keys';
import { startLocalEtcd } from '../test/kit/local-etcd';
import type { Json } from './support';

export async function benchOrphanSweep(
  leases = Number(process.env.SWEEP_LEASES ?? 100_000),
  tombstones = 10_000,
  orphans = 1000,
): Promise<Json[]> {
  const etcd = await startLocalEtcd();
  const client = new Etcd3({ hosts: etcd.endpoint });
  const config = loadConfig({
    ETCD_ENDPOINTS: etcd.endpoint,
    STATE_PREFIX: 'bench/registrar',
    REGISTRY_PREFIX: 'bench/services',
    LEASE_TTL_SECONDS: '3600',
    ORPHAN_GRACE_SECONDS: '1',
  });
  const registry = new Registry(client, config);
  const limit = pLimit(256);
  const grant = (name: string, ttl: number) => {
    const ID = leaseIdFor(name, config.statePrefix);
    return limit(async () => (await client.leaseClient.leaseGrant({ TTL: ttl, ID })).ID);
  };
  const lines: Json[] = [];
  /** Sweeps `runs` times in a row (a shared machine moves single figures by tens of percent). */
  const sweep = async (step: string, referenced: ReadonlySet<string>, runs = 3) => {
    const times: number[] = [];
    let last: Awaited<ReturnType<Registry['sweepOrphanLeases']>> | undefined;
    for (let run = 0; run < runs; run++) {
      last = await registry.sweepOrphanLeases({ referenced, dryRun: false, concurrency: 64 });
      times.push(last.durationMs);
    }
    lines.push({ figure: 'orphan_sweep', step, ...last!, errors: last!.errors.length, durationMs: times });
  };
  try {
    const taskLeases = await Promise.all(Array.from({ length: leases }, (_, i) => grant(`task\u0000${i}`, 3600)));
    const referenced = new Set(taskLeases);
    await sweep(`${leases} referenced leases, nothing to sweep`, referenced);

    await Promise.all(
      Array.from({ length: tombstones }, (_, i) =>
        grant(`tombstone\u0000${i}`, config.tombstoneTtlSeconds).then((lease) =>
          limit(() =>
            client
              .put(tombstoneKey(config.statePrefix, 'arn:aws:ecs:us-east-1:123456789012:cluster/bench', `t${i}`))
              .value('{}')
              .lease(lease),
          ),
        ),
      ),
    );
    await sweep(`+ ${tombstones} tombstone leases`, referenced);

    await Promise.all(Array.from({ length: orphans }, (_, i) => grant(`orphan\u0000${i}`, 3600)));
    await new Promise((r) => setTimeout(r, 2100)); // past the grace
    await sweep(`+ ${orphans} orphans`, referenced, 1);
    return lines;
  } finally {
    client.close();
    await etcd.stop();
  }
}
