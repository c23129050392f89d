/**
 * Lease accounting on an etcd of its own (leases are not namespaced, so the shared test etcd would
 * mix in other files' leases): no write path leaks a lease, whatever it loses to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deregisterTask } from '../../lib/deregister';
import { parseTaskStateChange } from '../../lib/ecs/event';
import { InvalidEventError } from '../../lib/errors';
import { leaseIdFor, taskLeaseName, tombstoneLeaseName } from '../../lib/etcd/registry';
import { startLocalEtcd, type LocalEtcd } from '../kit/local-etcd';
import { createHarness, type Harness } from '../support/harness';
import { fargateEvent, transition } from '../kit/events';

let etcd: LocalEtcd;
let h: Harness;
beforeAll(async () => {
  etcd = await startLocalEtcd();
  h = await createHarness({ ETCD_ENDPOINTS: etcd.endpoint });
});
afterAll(async () => {
  await h.close();
  await etcd.stop();
});

const task = (event: Record<string, any>) => parseTaskStateChange(event).task;
const leases = async () => (await h.etcd.leaseClient.leaseLeases()).leases.map((l) => l.ID).sort();

/** Leases given back without being awaited are revoked shortly after: wait for them. */
async function settledLeases(expected: string[]): Promise<string[]> {
  for (let i = 0; i < 50; i++) {
    const now = await leases();
    if (JSON.stringify(now) === JSON.stringify(expected)) return now;
    await new Promise((r) => setTimeout(r, 100));
  }
  return leases();
}

describe('leases', () => {
  it('keeps exactly one lease per registered task and one per tombstone', async () => {
    const a = fargateEvent(1);
    h.aws.putTaskFromDetail(a.detail);
    await h.registrar.register(task(a));
    const taskLease = (await h.registry.readTask(task(a))).record!.lease;
    expect(await leases()).toEqual([taskLease]);

    // Each of these grants a lease, loses, and must give it back.
    expect(await h.registrar.register(task(a))).toMatchObject({ reason: 'duplicate' });
    expect(await h.registrar.register(task(transition(a, 2, 'RUNNING', 'RUNNING')))).toMatchObject({ reason: 'stale' });
    expect(await leases()).toEqual([taskLease]);

    await deregisterTask(h.registry, task(transition(a, 5, 'RUNNING', 'STOPPED')));
    const afterStop = await leases();
    expect(afterStop).toHaveLength(1);
    expect(afterStop).not.toContain(taskLease); // the task lease went with the task; the one left is the tombstone's

    expect(await h.registrar.register(task(transition(a, 6, 'RUNNING', 'RUNNING')))).toMatchObject({
      reason: 'stopped',
    });
    await deregisterTask(h.registry, task(transition(a, 7, 'STOPPED', 'STOPPED')));
    expect(await leases()).toEqual(afterStop);
  });

  it('leaks nothing when many writers race for the same task', async () => {
    const before = await leases();
    const b = fargateEvent(2);
    h.aws.putTaskFromDetail(b.detail);
    const results = await Promise.all(Array.from({ length: 8 }, () => h.registrar.register(task(b))));
    expect(results.filter((r) => r.action === 'registered')).toHaveLength(1);
    const after = await leases();
    expect(after.filter((l) => !before.includes(l))).toEqual([(await h.registry.readTask(task(b))).record!.lease]);
  });

  it('gives back the lease granted ahead of an event that turns out malformed, not started, or a duplicate', async () => {
    const c = fargateEvent(3);
    h.aws.putTaskFromDetail(c.detail);
    expect(await h.registrar.registerEvent(c)).toMatchObject({ action: 'registered' });
    const before = await leases();

    await expect(h.registrar.registerEvent({ ...c, detail: { ...c.detail, version: 'four' } })).rejects.toThrow(
      InvalidEventError,
    );
    expect(await h.registrar.registerEvent(transition(c, 5, 'RUNNING', 'STOPPED'))).toMatchObject({
      action: 'ignored',
      reason: expect.stringMatching(/^not a started task/),
    });
    expect(await h.registrar.registerEvent(c)).toMatchObject({ action: 'ignored', reason: 'duplicate' });
    expect(await settledLeases(before)).toEqual(before);
  });

  it('adopts a task lease whose grant answer was lost: the redelivered event writes on it, no lease left over', async () => {
    const d = fargateEvent(4);
    h.aws.putTaskFromDetail(d.detail);
    const before = await leases();
    // The first delivery's grant, applied by etcd, its answer lost (leader election, deadline).
    const lost = leaseIdFor(taskLeaseName(task(d)), h.config.statePrefix);
    await h.etcd.leaseClient.leaseGrant({ TTL: h.config.leaseTtlSeconds, ID: lost });
    await new Promise((r) => setTimeout(r, 2100)); // the redelivery comes later: the lease's TTL has run down
    expect(await h.registrar.registerEvent(d)).toMatchObject({ action: 'registered' });
    const record = (await h.registry.readTask(task(d))).record!;
    expect(record.lease).toBe(lost);
    expect(await leases()).toEqual([...before, lost].sort());
    // Adopted with a full TTL, not what was left of the lost grant.
    expect(Number((await h.etcd.leaseClient.leaseTimeToLive({ ID: lost })).TTL)).toBeGreaterThan(
      h.config.leaseTtlSeconds - 2,
    );
  });

  it('adopts a tombstone lease whose grant answer was lost', async () => {
    const e = fargateEvent(5);
    const before = await leases();
    const lost = leaseIdFor(tombstoneLeaseName(e.detail.taskArn), h.config.statePrefix);
    await h.etcd.leaseClient.leaseGrant({ TTL: 30, ID: lost });
    await deregisterTask(h.registry, task(transition(e, 6, 'STOPPED', 'STOPPED')));
    expect((await h.registry.readTask(task(e))).tombstone?.lease).toBe(lost);
    expect(await leases()).toEqual([...before, lost].sort());
  });

  it('never revokes the lease a duplicate already wrote the task on, however the duplicates race', async () => {
    const f = fargateEvent(6);
    h.aws.putTaskFromDetail(f.detail);
    const before = await leases();
    const results = await Promise.all(Array.from({ length: 8 }, () => h.registrar.registerEvent(f)));
    expect(results.filter((r) => r.action === 'registered')).toHaveLength(1);
    expect(results.filter((r) => r.action === 'ignored').map((r) => (r as { reason: string }).reason)).toEqual(
      Array(7).fill('duplicate'),
    );
    const record = (await h.registry.readTask(task(f))).record!;
    expect(Number((await h.etcd.leaseClient.leaseTimeToLive({ ID: record.lease })).TTL)).toBeGreaterThan(0);
    expect((await h.endpoints())[record.record.keys[0]!]).toBeDefined();
    expect(await settledLeases([...before, record.lease].sort())).toEqual([...before, record.lease].sort());

    const stopping = task(transition(f, 7, 'RUNNING', 'STOPPED'));
    await Promise.all(Array.from({ length: 4 }, () => deregisterTask(h.registry, stopping)));
    const state = await h.registry.readTask(stopping);
    expect(state.record).toBeUndefined();
    expect(state.tombstone).toBeDefined();
    expect(await settledLeases([...before, state.tombstone!.lease].sort())).toEqual(
      [...before, state.tombstone!.lease].sort(),
    );
  });
});
