/**
 * Lease accounting on an etcd of its own (leases are not namespaced, so the shared test etcd would
 * mix in other files' leases): no write path leaks a lease, whatever it loses to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTaskStateChange } from '../../lib/ecs/event';
import { InvalidEventError } from '../../lib/errors';
import { startLocalEtcd, type LocalEtcd } from '../../scripts/local-etcd';
import { createHarness, type Harness } from '../support/harness';
import { fargateEvent, transition } from '../support/tasks';

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

    await h.registrar.deregister(task(transition(a, 5, 'RUNNING', 'STOPPED')));
    const afterStop = await leases();
    expect(afterStop).toHaveLength(1);
    expect(afterStop).not.toContain(taskLease); // the task lease went with the task; the one left is the tombstone's

    expect(await h.registrar.register(task(transition(a, 6, 'RUNNING', 'RUNNING')))).toMatchObject({ reason: 'stopped' });
    await h.registrar.deregister(task(transition(a, 7, 'STOPPED', 'STOPPED')));
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

    await expect(h.registrar.registerEvent({ ...c, detail: { ...c.detail, version: 'four' } })).rejects.toThrow(InvalidEventError);
    expect(await h.registrar.registerEvent(transition(c, 5, 'RUNNING', 'STOPPED'))).toMatchObject({ action: 'ignored', reason: expect.stringMatching(/^not a started task/) });
    expect(await h.registrar.registerEvent(c)).toMatchObject({ action: 'ignored', reason: 'duplicate' });
    expect(await settledLeases(before)).toEqual(before);
  });
});
