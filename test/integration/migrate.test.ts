/**
 * Upgrading from the layout before state namespaces had owners (`<state>/tasks/<cluster>/<task-id>`,
 * one `registrar/` for every deployment): the state, as that code wrote it (same values, same
 * leases, bare cluster names in the keys), is moved once into the deployment's namespace, and its
 * tasks stay published.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterSegment } from '../../lib/deployment';
import { ConfigError } from '../../lib/errors';
import { migrateLegacyState } from '../../lib/etcd/migrate';
import { etcdCall } from '../../lib/etcd/operations';
import { prefixEnd } from '../../lib/etcd/registry';
import { fargateEvent, transition } from '../kit/events';
import { createDeployment } from '../support/harness';

type Deployment = Awaited<ReturnType<typeof createDeployment>>;
type Json = Record<string, any>;

const run = randomUUID().slice(0, 6);
const newAccount = () => String(randomInt(100_000, 999_999)) + String(randomInt(100_000, 999_999));
const open: Deployment[] = [];
const cleanup: string[] = [];

afterEach(async () => {
  const [d] = open;
  for (const prefix of cleanup.splice(0))
    await d?.etcd.kv.deleteRange({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
  for (const o of open.splice(0)) await o.close();
});

/** Every key (and its value, lease and mod revision) under a prefix. */
async function keysUnder(
  d: Deployment,
  prefix: string,
): Promise<Record<string, { value: string; lease: string; rev: string }>> {
  const res = await d.etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
  return Object.fromEntries(
    res.kvs.map((kv) => [kv.key.toString(), { value: kv.value.toString(), lease: kv.lease, rev: kv.mod_revision }]),
  );
}

/**
 * Registers two running tasks and stops a third, then rewrites what that left in the namespace
 * as the previous layout under `legacy`: the same values on the same leases, the cluster segment
 * a bare name, no owner record.
 */
async function writePreviousLayout(d: Deployment, legacy: string, salt: string): Promise<Json[]> {
  const place = { account: d.config.deployment.account!, region: d.config.deployment.region!, cluster: 'prod' };
  const events = [1, 2, 3].map((n) => fargateEvent(n, { salt, place }));
  for (const event of events) {
    d.aws.putTaskFromDetail(event.detail);
    expect(await d.registrar.registerEvent(event)).toMatchObject({ action: 'registered' });
  }
  const stopped = transition(events[2]!, 9, 'STOPPED', 'STOPPED');
  d.aws.putTaskFromDetail(stopped.detail);
  await d.registry.stopTask(
    {
      taskArn: stopped.detail.taskArn,
      taskId: stopped.detail.taskArn.split('/').pop(),
      clusterArn: stopped.detail.clusterArn,
      clusterName: 'prod',
    },
    9,
    new Date().toISOString(),
  );
  const segment = clusterSegment(events[0]!.detail.clusterArn);
  for (const [key, kv] of Object.entries(await keysUnder(d, `${d.config.statePrefix}/`))) {
    await d.etcd.delete().key(key);
    if (key.endsWith('/owner')) continue;
    const old = `${legacy}${key.slice(d.config.statePrefix.length).replace(`/${segment}`, '/prod')}`;
    const put = d.etcd.put(old).value(kv.value);
    await (kv.lease === '0' ? put : put.lease(kv.lease)).exec();
  }
  return events.slice(0, 2);
}

describe.each([
  ['the old default namespace "registrar" into the derived one', false],
  ['an explicit STATE_PREFIX, in place', true],
])('moving the previous layout from %s', (_name, explicit) => {
  it('keeps every task published, leaves other regions’ keys alone, and changes nothing when run again', async () => {
    const account = newAccount();
    const stage = `prod${run}`;
    const ns = `t-${run}-${randomUUID().slice(0, 6)}`;
    const env = { REGISTRY_PREFIX: `${ns}/services`, ...(explicit ? { STATE_PREFIX: `${ns}/registrar` } : {}) };
    const d = await createDeployment({ stage, account, region: 'eu-west-1' }, env);
    open.push(d);
    const legacy = d.config.legacyStatePrefix;
    expect(legacy).toBe(explicit ? `${ns}/registrar` : 'registrar');
    cleanup.push(`${d.config.statePrefix}/`, `${ns}/`);
    const running = await writePreviousLayout(d, legacy, `m${ns}`);
    // us-east-1's task of a cluster also called prod, under the same old keys: not this deployment's.
    const other = fargateEvent(7, { salt: `o${ns}`, place: { account, region: 'us-east-1', cluster: 'prod' } });
    const otherKey = `${legacy}/tasks/prod/${other.detail.taskArn.split('/').pop()}`;
    await d.etcd.put(otherKey).value(
      JSON.stringify({
        ...(await someRecord(d, legacy)),
        taskArn: other.detail.taskArn,
        clusterArn: other.detail.clusterArn,
      }),
    );
    cleanup.push(otherKey);
    const endpointsBefore = await d.endpoints();
    const published = await keysUnder(d, `${ns}/services/`);
    const oldKeys = Object.keys(await keysUnder(d, `${legacy}/`)).filter(
      (k) => k.includes('/prod/') || k.endsWith('/prod'),
    );
    expect(oldKeys.length).toBe(2 + 1 + 1 + 1); // two records, a tombstone, the cluster key, the other region's record

    const result = await d.claim();
    expect(result).toMatchObject({ claimed: true, migration: { moved: 4, superseded: 0, skipped: 0, foreign: 1 } });
    const after = await keysUnder(d, `${legacy}/`);
    expect(Object.keys(after).filter((k) => k.includes('/prod/') || k.endsWith('/prod'))).toEqual([otherKey]);
    // The endpoint keys were not touched: same values, same leases, same revisions.
    expect(await keysUnder(d, `${ns}/services/`)).toEqual(published);

    for (let tick = 0; tick < 3; tick++) {
      const summary = await d.registrar.renew();
      expect(summary).toMatchObject({ records: 2, renewed: 2, removed: 0, missing: 0, failed: 0, clustersRemoved: 0 });
      expect(summary.applied).toEqual([]);
    }
    expect(await d.endpoints()).toEqual(endpointsBefore);
    for (const event of running) {
      const taskId = event.detail.taskArn.split('/').pop();
      const { record, tombstone } = await d.registry.readTask({ clusterArn: event.detail.clusterArn, taskId });
      expect(record?.record).toMatchObject({ state: 'registered', taskArn: event.detail.taskArn });
      expect(tombstone).toBeUndefined();
    }
    // The other region's record was neither renewed, verified nor removed; renew said so at ERROR (in place).
    expect((await keysUnder(d, otherKey))[otherKey]?.rev).toBe(after[otherKey]?.rev);
    expect(d.aws.clustersAsked.has(other.detail.clusterArn)).toBe(false);
    if (explicit)
      expect(d.log.lines.some((l) => l.level === 'error' && l.message.includes('not this deployment'))).toBe(true);

    // Once more: the claim is done, and a second move of what is left finds nothing of its own.
    const state = await keysUnder(d, `${ns}/`);
    const derived = await keysUnder(d, `${d.config.statePrefix}/`);
    expect(await d.claim()).toEqual({ claimed: false });
    expect(await migrateLegacyState({ client: d.etcd, config: d.config, call: etcdCall })).toEqual({
      moved: 0,
      superseded: 0,
      skipped: 0,
      foreign: 1,
    });
    expect(await keysUnder(d, `${ns}/`)).toEqual(state);
    expect(await keysUnder(d, `${d.config.statePrefix}/`)).toEqual(derived);
  });
});

describe('moving the previous layout', () => {
  it('is refused, writing nothing, when the tasks publish outside REGISTRY_PREFIX', async () => {
    const ns = `t-${run}-${randomUUID().slice(0, 6)}`;
    const place = { stage: `prod${run}`, account: newAccount(), region: 'eu-west-1' };
    const before = await createDeployment(place, {
      REGISTRY_PREFIX: `${ns}/services`,
      STATE_PREFIX: `${ns}/registrar`,
    });
    open.push(before);
    cleanup.push(`${ns}/`);
    await writePreviousLayout(before, `${ns}/registrar`, `r${ns}`);
    // The upgrade leaves registryPrefix to its new default (services/<stage>), not where clients watch.
    const upgraded = await createDeployment(place, {
      REGISTRY_PREFIX: `${ns}/services/${place.stage}`,
      STATE_PREFIX: `${ns}/registrar`,
    });
    open.push(upgraded);
    const state = await keysUnder(upgraded, `${ns}/`);
    const error = await upgraded.claim().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('REGISTRY_PREFIX');
    expect((error as Error).message).toContain(`published under "${ns}/services"`);
    expect((error as Error).message).toContain('nothing was written');
    expect(await keysUnder(upgraded, `${ns}/`)).toEqual(state);
  });
});

/** A record of the previous layout under `legacy` (its value, to copy for another task). */
async function someRecord(d: Deployment, legacy: string): Promise<Json> {
  const records = await keysUnder(d, `${legacy}/tasks/prod/`);
  return JSON.parse(Object.values(records)[0]!.value);
}
