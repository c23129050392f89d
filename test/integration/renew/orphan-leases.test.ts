/**
 * A renew killed mid-tick, between a stop's transaction and its lease revoke, and a register killed
 * between its grant and its write, leave leases holding no key: the next tick revokes them, and
 * never a lease this deployment did not grant, nor one granted a moment ago. Real etcd, the local
 * ECS endpoint through the AWS SDK.
 */
import { EtcdLeaseInvalidError } from 'etcd3';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { parseTaskStateChange } from '../../../lib/ecs/event';
import { hasLeaseTag, leaseIdFor, taskLeaseName } from '../../../lib/etcd/registry';
import { fargateEvent } from '../../kit/events';
import { type LocalEtcd, startLocalEtcd } from '../../kit/local-etcd';
import { createHarness, type Harness } from '../../support/harness';
import { renewTasks } from '../../../lib/renew/run';

let h: Harness;
// An etcd of this file's own: a sweep acts on every empty lease carrying its deployment's tag, and
// in the shared etcd the leases of other test files' namespaces (hundreds; one in 2^16 with the same
// tag) would be swept and counted too.
let etcd: LocalEtcd;
beforeAll(async () => {
  etcd = await startLocalEtcd();
});
afterAll(async () => etcd?.stop());
afterEach(async () => h?.close());

/** A harness on this file's etcd. */
const harness = (env: Record<string, string> = {}) => createHarness({ ETCD_ENDPOINTS: etcd.endpoint, ...env });

const GRACE_SECONDS = 1;

/** Keys on a lease, or `undefined` when etcd no longer knows it. */
async function keysOn(id: string): Promise<number | undefined> {
  const lease = await h.etcd.leaseClient.leaseTimeToLive({ ID: id, keys: true });
  return Number(lease.TTL) > 0 ? lease.keys.length : undefined;
}

/** This deployment's leases etcd holds that carry no key. */
async function emptyOwnLeases(): Promise<string[]> {
  const { leases } = await h.etcd.leaseClient.leaseLeases();
  const own = leases.map((l) => String(l.ID)).filter((id) => hasLeaseTag(id, h.config.statePrefix));
  const empty: string[] = [];
  for (const id of own) if ((await keysOn(id)) === 0) empty.push(id);
  return empty;
}

it('revokes, by the next tick, the leases a killed renew and a killed register left holding no key, and nobody else’s', {
  timeout: 30_000,
}, async () => {
  h = await harness({ ORPHAN_GRACE_SECONDS: String(GRACE_SECONDS) });
  const events = [0, 1, 2].map((n) => fargateEvent(700 + n));
  for (const event of events) {
    h.aws.putTaskFromDetail(event.detail);
    await h.registrar.register(parseTaskStateChange(event).task);
  }
  const stopping = parseTaskStateChange(events[0]).task;
  const stoppingLease = (await h.registry.readTask(stopping)).record!.lease;
  h.aws.updateTask(stopping.taskArn, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', version: 9 });

  // The tick that is killed: its stop's transaction lands, the process dies before the revoke
  // leaves it (the revoke is dropped here, as if never sent).
  const revoke = h.etcd.leaseClient.leaseRevoke.bind(h.etcd.leaseClient);
  h.etcd.leaseClient.leaseRevoke = () => Promise.reject(new EtcdLeaseInvalidError('dropped: the process died'));
  try {
    expect((await renewTasks(h.registrar)).removed).toBe(1);
  } finally {
    h.etcd.leaseClient.leaseRevoke = revoke;
  }
  expect(await keysOn(stoppingLease)).toBe(0);

  // A register killed between its grant and its write.
  const lostTask = { taskArn: parseTaskStateChange(fargateEvent(703)).task.taskArn, version: 3 };
  const lostGrant = await h.registry.grant(h.config.leaseTtlSeconds, { name: taskLeaseName(lostTask) });
  // Not ours: a lease etcd chose the ID of, and another deployment's derived one; both hold nothing.
  const foreign = (await h.etcd.leaseClient.leaseGrant({ TTL: h.config.leaseTtlSeconds })).ID;
  const otherDeployment = leaseIdFor(taskLeaseName(lostTask), `${h.config.statePrefix}-other`);
  await h.etcd.leaseClient.leaseGrant({ TTL: h.config.leaseTtlSeconds, ID: otherDeployment });
  expect(await emptyOwnLeases()).toEqual(expect.arrayContaining([stoppingLease, lostGrant]));

  await new Promise((r) => setTimeout(r, (GRACE_SECONDS + 1) * 1000 + 100));
  // A register on its way from its grant to its write, granted a moment ago: not an orphan yet.
  const inFlight = await h.registry.grant(h.config.leaseTtlSeconds, {
    name: taskLeaseName({ taskArn: lostTask.taskArn, version: 4 }),
  });

  const dry = await renewTasks(h.registrar, { dryRun: true });
  expect(dry.orphanLeases).toMatchObject({ revoked: 2 });
  expect(await keysOn(stoppingLease)).toBe(0); // a dry run revokes nothing

  const next = await renewTasks(h.registrar);
  expect(next.failed).toBe(0);
  expect(next.orphanLeases).toMatchObject({ revoked: 2, errors: [] });
  expect(await keysOn(stoppingLease)).toBeUndefined();
  expect(await keysOn(lostGrant)).toBeUndefined();
  expect(await emptyOwnLeases()).toEqual([inFlight]);
  expect(await keysOn(inFlight)).toBe(0);
  expect(await keysOn(foreign)).toBe(0);
  expect(await keysOn(otherDeployment)).toBe(0);
  // The running tasks' leases are untouched and their keys served.
  for (const event of events.slice(1)) {
    const { record } = await h.registry.readTask(parseTaskStateChange(event).task);
    expect(await keysOn(record!.lease)).toBeGreaterThan(0);
  }
  await h.etcd.leaseClient.leaseRevoke({ ID: foreign });
  await h.etcd.leaseClient.leaseRevoke({ ID: otherDeployment });
  await h.etcd.leaseClient.leaseRevoke({ ID: inFlight });
});

it('reads nothing lease by lease when every lease of the deployment is referred to by a record', async () => {
  h = await harness();
  const event = fargateEvent(710);
  h.aws.putTaskFromDetail(event.detail);
  await h.registrar.register(parseTaskStateChange(event).task);
  const summary = await renewTasks(h.registrar);
  expect(summary.orphanLeases).toMatchObject({ candidates: 0, checked: 0, revoked: 0, errors: [] });
});

it('does not start a sweep the tick has no time left for', async () => {
  h = await harness();
  const lost = await h.registry.grant(h.config.leaseTtlSeconds, {
    name: taskLeaseName({ taskArn: parseTaskStateChange(fargateEvent(711)).task.taskArn, version: 1 }),
  });
  const swept = await h.registry.sweepOrphanLeases({
    referenced: new Set(),
    dryRun: false,
    concurrency: 4,
    stopAt: Date.now() - 1,
  });
  expect(swept).toMatchObject({ ran: false, listed: 0, revoked: 0 });
  expect(await keysOn(lost)).toBe(0);
  await h.etcd.leaseClient.leaseRevoke({ ID: lost });
});
