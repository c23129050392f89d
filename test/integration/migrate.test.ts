/**
 * Upgrading from the layout before state namespaces had owners (`<state>/tasks/<cluster>/<task-id>`,
 * one `registrar/` for every deployment): the state, as that code wrote it (same values, same
 * leases, bare cluster names in the keys), is moved once into the deployment's namespace, and its
 * tasks stay published.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clusterSegment, type OwnerRecord } from '../../lib/deployment';
import { ConfigError } from '../../lib/errors';
import { migrateLegacyState } from '../../lib/etcd/migrate';
import { etcdCall } from '../../lib/etcd/operations';
import { prefixEnd } from '../../lib/etcd/registry';
import { ownerKey } from '../../lib/keys';
import { fargateEvent, transition } from '../kit/events';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { captureLogs } from '../support/capture-logs';
import { createDeployment, memoryLog } from '../support/harness';
import { runCli } from '../../lib/cli/main';
import { loadConfig, loadXdsConfig } from '../../lib/config';
import { runXds } from '../../lib/xds/run';
import { claimedNamespace } from '../../lib/handler/plumbing';
import { renewTasks } from '../../lib/renew/run';

type Deployment = Awaited<ReturnType<typeof createDeployment>>;
type Json = Record<string, any>;

const run = randomUUID().slice(0, 6);
const newAccount = () => String(randomInt(100_000, 999_999)) + String(randomInt(100_000, 999_999));
const open: Deployment[] = [];
const cleanup: string[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
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
      const summary = await renewTasks(d.registrar);
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
    expect(await d.claim()).toEqual({ claimed: false, registryPrefix: `${ns}/services`, adopted: false });
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
  it('moves at the next invocation what a first move could not take, in a process that stays warm', async () => {
    const place = { stage: `prod${run}`, account: newAccount(), region: 'eu-west-1' };
    const ns = `t-${run}-${randomUUID().slice(0, 6)}`;
    const d = await createDeployment(place, { REGISTRY_PREFIX: `${ns}/services`, STATE_PREFIX: `${ns}/registrar` });
    open.push(d);
    cleanup.push(`${ns}/`);
    await writePreviousLayout(d, d.config.legacyStatePrefix, `w${ns}`);
    const ownOld = async () =>
      Object.keys(await keysUnder(d, `${d.config.legacyStatePrefix}/`)).filter(
        (k) => k.includes('/prod/') || k.endsWith('/prod'), // bare cluster names: the previous layout
      );
    expect((await ownOld()).length).toBe(4);

    // The first invocation's claim: the owner transaction goes through, the first key's move fails.
    const txn = d.etcd.kv.txn.bind(d.etcd.kv);
    let txns = 0;
    vi.spyOn(d.etcd.kv, 'txn').mockImplementation((req, options) =>
      ++txns === 2 ? Promise.reject(new Error('etcd failed for this move')) : txn(req, options),
    );
    await claimedNamespace({ config: d.config, registry: d.registry });
    expect((await ownOld()).length).toBe(1);
    vi.restoreAllMocks();

    // The next invocation of the same process claims again and moves the rest; the one after finds it done.
    await claimedNamespace({ config: d.config, registry: d.registry });
    expect(await ownOld()).toEqual([]);
    const owner = JSON.parse((await d.etcd.get(ownerKey(d.config.statePrefix)).string()) ?? '{}') as OwnerRecord;
    expect(owner.migratedAt).toBeDefined();
    expect((await renewTasks(d.registrar)).renewed).toBe(2);
  });

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

/**
 * A new Lambda container of `d`'s deployment with the stack's defaults: STAGE, AWS_REGION and
 * ACCOUNT_ID set, REGISTRY_PREFIX and STATE_PREFIX empty (serverless.yml passes its empty params).
 */
async function functionsOf(d: Deployment) {
  vi.resetModules();
  const { stage, region, account } = d.config.deployment;
  Object.assign(process.env, d.aws.sdkEnv(), {
    ETCD_ENDPOINTS: d.config.etcdEndpoints.join(','),
    STAGE: stage,
    AWS_REGION: region,
    ACCOUNT_ID: account,
    REGISTRY_PREFIX: '',
    STATE_PREFIX: '',
  });
  return {
    register: (await import('../../functions/register')).handler,
    renew: (await import('../../functions/renew')).handler,
  };
}

async function ownerOf(d: Deployment): Promise<OwnerRecord & { rev: string }> {
  const key = ownerKey(d.config.statePrefix);
  const kv = (await keysUnder(d, key))[key]!;
  return { ...(JSON.parse(kv.value) as OwnerRecord), rev: kv.rev };
}

describe('an upgrade with the stack defaults (REGISTRY_PREFIX not set)', () => {
  it('adopts the directory the previous layout published under, keeps every task there, and says so', async () => {
    const place = { stage: `up${run}`, account: newAccount(), region: 'eu-west-1' };
    // The previous version: services/, state under registrar/ (what its stack passed).
    const before = await createDeployment(place, { REGISTRY_PREFIX: 'services' });
    open.push(before);
    cleanup.push(`${before.config.statePrefix}/`);
    const running = await writePreviousLayout(before, 'registrar', `a${run}${place.account}`);
    const published = await keysUnder(before, 'services/');
    const ours = Object.keys(published).filter((k) =>
      running.some((e) => k.includes(e.detail.taskArn.split('/').pop())),
    );
    expect(ours).toHaveLength(2);
    cleanup.push(...ours, ...Object.keys(await keysUnder(before, 'registrar/tasks/prod/')));
    const mine = (all: Record<string, { value: string; lease: string; rev: string }>) =>
      Object.fromEntries(Object.entries(all).filter(([k]) => ours.includes(k)));

    const logs = captureLogs();
    const first = await functionsOf(before);
    for (let tick = 0; tick < 3; tick++)
      expect(await first.renew(scheduledEvent, lambdaContext('renew'))).toMatchObject({
        records: 2,
        renewed: 2,
        removed: 0,
        missing: 0,
        failed: 0,
      });
    // Still where the clients watch, untouched; nothing under the default services/<stage>/.
    expect(mine(await keysUnder(before, 'services/'))).toEqual(mine(published));
    expect(await keysUnder(before, `services/${place.stage}/`)).toEqual({});
    const owner = await ownerOf(before);
    expect(owner).toMatchObject({ registryPrefix: 'services', registryPrefixAdopted: true });
    expect(owner.migratedAt).toBeDefined();
    const warnings = () =>
      logs.lines().filter((l) => l.level === 'WARN' && String(l.message).includes('publishing under "services"'));
    expect(warnings()).toHaveLength(1);
    expect(String(warnings()[0]!.message)).toContain(`services/${place.stage}/<service>/`);
    expect(String(warnings()[0]!.message)).toContain(
      'set REGISTRY_PREFIX (serverless param registryPrefix) to "services"',
    );

    // A task started after the upgrade lands beside the others.
    const later = fargateEvent(4, { salt: `a${run}${place.account}`, place: { ...place, cluster: 'prod' } });
    before.aws.putTaskFromDetail(later.detail);
    expect(await first.register(later, lambdaContext('register'))).toMatchObject({ action: 'registered' });
    const laterKeys = Object.keys(await keysUnder(before, 'services/')).filter((k) =>
      k.includes(later.detail.taskArn.split('/').pop()),
    );
    cleanup.push(...laterKeys);
    expect(laterKeys).toHaveLength(1);
    expect(laterKeys[0]!.split('/').slice(0, 2)).toEqual(ours[0]!.split('/').slice(0, 2));

    // A second container reads the adoption from the owner record: no move again, the same WARN.
    const second = await functionsOf(before);
    expect(await second.renew(scheduledEvent, lambdaContext('renew'))).toMatchObject({
      records: 3,
      renewed: 3,
      removed: 0,
      failed: 0,
    });
    expect((await ownerOf(before)).rev).toBe(owner.rev);
    expect(logs.lines().filter((l) => l.message === 'state namespace claimed')).toHaveLength(1);
    expect(warnings()).toHaveLength(2);
    expect(await keysUnder(before, `services/${place.stage}/`)).toEqual({});

    // The CLI and the xDS server, with the same defaults, read the directory from the owner record.
    const env = { ...process.env } as Record<string, string>;
    let out = '';
    let err = '';
    expect(
      await runCli(['ls', '--json'], { env, stdout: (t) => void (out += t), stderr: (t) => void (err += t) }),
    ).toBe(0);
    for (const key of [...ours, ...laterKeys]) expect(out).toContain(key.split('/').pop());
    expect(err).toContain('publishing under "services"');
    const xdsLog = memoryLog();
    const stop = new AbortController();
    const serving = runXds({
      config: loadConfig(env),
      xds: loadXdsConfig({ XDS_PORT: '0', XDS_HOST: '127.0.0.1', XDS_HEALTH_PORT: '0' }),
      log: xdsLog,
      signal: stop.signal,
      onListening: () => stop.abort(),
    });
    await serving;
    expect(xdsLog.lines.find((l) => l.message.startsWith('xds: listening'))?.extra[0]).toMatchObject({
      registryPrefix: 'services',
    });
    expect(xdsLog.lines.some((l) => l.level === 'warn' && l.message.includes('publishing under "services"'))).toBe(
      true,
    );
  });

  it('publishes a fresh deployment under services/<stage>, without a word about adoption', async () => {
    const place = { stage: `fr${run}`, account: newAccount(), region: 'eu-west-1' };
    const d = await createDeployment(place);
    open.push(d);
    cleanup.push(`${d.config.statePrefix}/`, `services/${place.stage}/`);
    const logs = captureLogs();
    const { register, renew } = await functionsOf(d);
    const event = fargateEvent(1, { salt: `f${run}`, place: { ...place, cluster: 'prod' } });
    d.aws.putTaskFromDetail(event.detail);
    expect(await register(event, lambdaContext('register'))).toMatchObject({ action: 'registered' });
    expect(await renew(scheduledEvent, lambdaContext('renew'))).toMatchObject({ records: 1, renewed: 1 });
    expect(Object.keys(await keysUnder(d, `services/${place.stage}/`))).toHaveLength(1);
    const owner = await ownerOf(d);
    expect(owner.registryPrefix).toBeUndefined();
    expect(owner.registryPrefixAdopted).toBeUndefined();
    expect(logs.lines().some((l) => String(l.message).includes('publishing under'))).toBe(false);
  });

  it('is refused, writing nothing, when the previous records publish under several directories', async () => {
    const ns = `t-${run}-${randomUUID().slice(0, 6)}`;
    const place = { stage: `sv${run}`, account: newAccount(), region: 'eu-west-1' };
    const a = await createDeployment(place, { REGISTRY_PREFIX: `${ns}/a` });
    const b = await createDeployment(place, { REGISTRY_PREFIX: `${ns}/b` });
    open.push(a, b);
    cleanup.push(`${ns}/`, `${a.config.statePrefix}/`);
    await writePreviousLayout(a, 'registrar', `s${ns}`);
    await writePreviousLayout(b, 'registrar', `t${ns}`);
    const legacy = Object.keys(await keysUnder(a, 'registrar/')).filter(
      (k) => k.includes(`s${ns}`) || k.includes(`t${ns}`) || k === 'registrar/clusters/prod',
    );
    expect(legacy.length).toBeGreaterThan(4);
    cleanup.push(...legacy);
    const upgraded = await createDeployment(place);
    open.push(upgraded);
    const state = await keysUnder(upgraded, 'registrar/');
    const error = await upgraded.claim().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('REGISTRY_PREFIX');
    expect((error as Error).message).toContain('they publish under several');
    expect(await keysUnder(upgraded, 'registrar/')).toEqual(state);
  });
});

/** A record of the previous layout under `legacy` (its value, to copy for another task). */
async function someRecord(d: Deployment, legacy: string): Promise<Json> {
  const records = await keysUnder(d, `${legacy}/tasks/prod/`);
  return JSON.parse(Object.values(records)[0]!.value);
}
