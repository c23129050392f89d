/**
 * The registrar against a real etcd (started by the test setup) and the real AWS SDK talking to a
 * local ECS/EC2 endpoint.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { deregisterTask } from '../../lib/deregister';
import { RecordState } from '../../lib/decide';
import { parseTaskStateChange } from '../../lib/ecs/event';
import { DependencyError } from '../../lib/errors';
import { Registry } from '../../lib/etcd/registry';
import { Registrar } from '../../lib/registrar';
import { createHarness, type Harness } from '../support/harness';
import { loadEvent } from '../kit/events';
import { CLUSTER_ARN, fargateEvent, TASK_DEFINITION_ARN, transition } from '../kit/events';
import { renewTasks } from '../../lib/renew/run';

type Json = Record<string, any>;

let h: Harness;
afterEach(async () => h?.close());

const task = (event: Json) => parseTaskStateChange(event).task;
const service = (h: Harness) => `${h.config.registryPrefix}/sample-fargate/`;

/** Registers a task event and also makes the local ECS know the task (as ECS would). */
async function start(h: Harness, event: Json) {
  h.aws.putTaskFromDetail(event.detail);
  return h.registrar.register(task(event));
}

async function stop(h: Harness, event: Json) {
  const t = task(event);
  h.aws.putTaskFromDetail(event.detail);
  return deregisterTask(h.registry, { ...t, stoppedAt: new Date().toISOString() });
}

/** The fivexl sample (app with a health check + envoy sidecar) as it was while running. */
function runningFivexl(stopped: Json): Json {
  const containers = stopped.detail.containers.map(({ exitCode: _, ...c }: Json) => ({ ...c, lastStatus: 'RUNNING' }));
  return transition(stopped, 3, 'RUNNING', 'RUNNING', {
    containers,
    stoppedAt: undefined,
    stopCode: undefined,
    stoppingAt: undefined,
  });
}

async function leaseOf(h: Harness, key: string): Promise<string> {
  const res = await h.etcd.kv.range({ key: Buffer.from(key) });
  return res.kvs[0]?.lease ?? 'absent';
}

async function ttl(h: Harness, lease: string): Promise<number> {
  return Number((await h.etcd.leaseClient.leaseTimeToLive({ ID: lease })).TTL);
}

describe('register', () => {
  it('publishes a started Fargate task: key, value and record on one lease', async () => {
    h = await createHarness();
    const event = loadEvent('fargate-awsvpc-running-ecs-devguide');
    const outcome = await h.registrar.register(task(event));
    const key = `${service(h)}c13b4cb40f1f4fe4a2971f76ae5a47ad:50051`;
    expect(outcome).toMatchObject({ action: 'registered', keys: [key] });

    const endpoints = await h.endpoints();
    expect(Object.keys(endpoints)).toEqual([key]);
    const value = JSON.parse(endpoints[key]!);
    expect(value.Op).toBe(0);
    expect(value.Addr).toBe('10.0.0.139:50051');
    expect(JSON.parse(value.Metadata)).toEqual({
      taskArn: event.detail.taskArn,
      cluster: event.detail.clusterArn,
      availabilityZone: 'us-west-2c',
      taskDefinition: event.detail.taskDefinitionArn,
      container: 'FargateApp',
      version: 4,
      startedAt: '2020-01-23T17:57:58.103Z',
      launchType: 'FARGATE',
    });

    const state = await h.registry.readTask({
      clusterArn: CLUSTER_ARN,
      taskId: 'c13b4cb40f1f4fe4a2971f76ae5a47ad',
    });
    expect(state.record?.record).toMatchObject({ state: RecordState.Registered, version: 4, keys: [key] });
    expect(await leaseOf(h, key)).toBe(state.record!.lease);
    const remaining = await ttl(h, state.record!.lease);
    expect(remaining).toBeGreaterThan(h.config.leaseTtlSeconds - 10);
    expect(remaining).toBeLessThanOrEqual(h.config.leaseTtlSeconds);
  });

  it('remembers the cluster once, not once per task', async () => {
    h = await createHarness();
    const clusterKey = h.registry.clusterKey(CLUSTER_ARN);
    const revisionOf = async () => (await h.etcd.kv.range({ key: Buffer.from(clusterKey) })).kvs[0]?.mod_revision;
    await start(h, fargateEvent(1));
    const first = await revisionOf();
    await start(h, fargateEvent(2));
    expect(await revisionOf()).toBe(first);
    expect(await h.registry.knownClusters()).toEqual([fargateEvent(1).detail.clusterArn]);
  });

  it('changes nothing for a duplicate delivery', async () => {
    h = await createHarness();
    const event = fargateEvent(1);
    await start(h, event);
    const before = await h.revisions();
    expect(Object.keys(before)).toHaveLength(3); // endpoint key, record, cluster
    expect(await h.registrar.register(task(event))).toMatchObject({ action: 'ignored', reason: 'duplicate' });
    expect(await h.revisions()).toEqual(before);
  });

  it('ignores an older event delivered after a newer one', async () => {
    h = await createHarness();
    const v5 = transition(fargateEvent(2), 5, 'RUNNING', 'RUNNING');
    await start(h, v5);
    const v3 = transition(fargateEvent(2), 3, 'RUNNING', 'RUNNING');
    expect(await h.registrar.register(task(v3))).toMatchObject({ action: 'ignored', reason: 'stale' });
    const state = await h.registry.readTask(task(v5));
    expect(state.record?.record.version).toBe(5);
  });

  it('applies a newer version: drops endpoints that went away and moves the task to a new lease', async () => {
    h = await createHarness();
    const v4 = fargateEvent(3);
    await start(h, v4);
    const oldLease = (await h.registry.readTask(task(v4))).record!.lease;
    const v6 = transition(v4, 6, 'RUNNING', 'RUNNING', { containers: [{ name: 'FargateApp', lastStatus: 'STOPPED' }] });
    expect(await start(h, v6)).toMatchObject({ action: 'empty', keys: [] });
    expect(await h.endpoints()).toEqual({});
    const record = (await h.registry.readTask(task(v6))).record!;
    expect(record.record).toMatchObject({ version: 6, state: RecordState.Empty });
    expect(record.lease).not.toBe(oldLease);
    expect(await ttl(h, oldLease)).toBe(-1); // revoked
  });

  it('registers a bridge task on the container instance IP, asking ECS when the event lacks bindings', async () => {
    h = await createHarness();
    const event = loadEvent('ec2-running-with-overrides-stratusgrid');
    const described = structuredClone(event.detail);
    described.containers[0].networkBindings = [
      { bindIP: '0.0.0.0', containerPort: 8080, hostPort: 32768, protocol: 'tcp' },
      { bindIP: '::', containerPort: 8080, hostPort: 32768, protocol: 'tcp' },
    ];
    h.aws.putTaskFromDetail(described);
    h.aws.putContainerInstance(event.detail.containerInstanceArn, 'i-0abc', '172.31.5.6');
    const outcome = await h.registrar.register(task(event));
    expect(outcome).toMatchObject({ action: 'registered' });
    expect(await h.endpoints()).toEqual({
      [`${h.config.registryPrefix}/testTD/3102878e-4af2-4b3c-b9c1-2556b95b2bbf:32768`]:
        expect.stringContaining('"Addr":"172.31.5.6:32768"'),
    });
    expect([
      h.aws.count('DescribeTasks'),
      h.aws.count('DescribeContainerInstances'),
      h.aws.count('DescribeInstances'),
    ]).toEqual([1, 1, 1]);
  });

  it('caches task definitions and host IPs across registrations', async () => {
    h = await createHarness();
    for (let n = 10; n < 15; n++) await start(h, fargateEvent(n));
    expect(h.aws.count('DescribeTaskDefinition')).toBe(1);
    expect(Object.keys(await h.endpoints())).toHaveLength(5);
  });

  it('holds back a task with a health check until ECS says HEALTHY, leaving a pending record', async () => {
    h = await createHarness();
    const event = loadEvent('fargate-stopped-essential-container-exited-fivexl');
    const running = runningFivexl(event);
    expect(await start(h, running)).toMatchObject({ action: 'pending', keys: [] });
    expect(await h.endpoints()).toEqual({});
    expect((await h.registry.readTask(task(running))).record?.record).toMatchObject({
      state: RecordState.Pending,
      gatedContainers: ['app'],
    });

    const healthy = transition(running, 4, 'RUNNING', 'RUNNING', { healthStatus: 'HEALTHY' });
    expect(await start(h, healthy)).toMatchObject({ action: 'registered' });
    // envoy carries registrar.skip=true: only the app is published.
    expect(Object.keys(await h.endpoints())).toEqual([
      `${h.config.registryPrefix}/example-api-v1/a6eaf0150a4248dAA1bcbd688121014e:8080`,
    ]);
  });

  it('writes the configured value and key formats', async () => {
    h = await createHarness({ VALUE_FORMAT: 'addr', KEY_FORMAT: 'addr' });
    await start(h, fargateEvent(20));
    expect(await h.endpoints()).toEqual({ [`${service(h)}10.0.0.20:50051`]: '10.0.0.20:50051' });
    await h.close();
    h = await createHarness({ VALUE_FORMAT: 'json' });
    await start(h, fargateEvent(21));
    expect(Object.values(await h.endpoints())).toEqual([
      JSON.stringify({ Name: 'sample-fargate', IP: '10.0.0.21:50051' }),
    ]);
  });

  it('fails with an ECS error and writes nothing when ECS stays throttled', async () => {
    h = await createHarness();
    h.aws.faults.set('DescribeTaskDefinition', { code: 'ThrottlingException' });
    const error = await h.registrar.register(task(fargateEvent(30))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as DependencyError).dependency).toBe('ecs');
    expect((error as Error).message).toMatch(/DescribeTaskDefinition .* failed: ThrottlingException/);
    expect(h.aws.count('DescribeTaskDefinition')).toBe(6); // the SDK's 2 attempts (AWS_MAX_ATTEMPTS=2), then 2 backoff rounds of the reader
    expect(await h.dump(h.config.statePrefix)).toEqual({});
    expect(await h.endpoints()).toEqual({});
  });
});

describe('deregister', () => {
  it('removes the task, leaves a tombstone, and is idempotent', async () => {
    h = await createHarness();
    const event = fargateEvent(40);
    await start(h, event);
    const lease = (await h.registry.readTask(task(event))).record!.lease;
    const stopping = transition(event, 5, 'RUNNING', 'STOPPED');
    expect(await stop(h, stopping)).toMatchObject({ action: 'removed', keys: [expect.stringMatching(/:50051$/)] });
    expect(await h.endpoints()).toEqual({});
    const state = await h.registry.readTask(task(event));
    expect(state.record).toBeUndefined();
    expect(state.tombstone?.tombstone.version).toBe(5);
    expect(await ttl(h, lease)).toBe(-1);
    expect(await stop(h, transition(event, 7, 'STOPPED', 'STOPPED'))).toMatchObject({ action: 'unchanged' });
  });

  it('remembers a stop of a task it never registered', async () => {
    h = await createHarness();
    expect(await stop(h, loadEvent('fargate-stopped-essential-container-exited-fivexl'))).toMatchObject({
      action: 'tombstoned',
      keys: [],
    });
  });

  it('ignores a late RUNNING event after the stop', async () => {
    h = await createHarness();
    const event = fargateEvent(41);
    await stop(h, transition(event, 5, 'RUNNING', 'STOPPED'));
    expect(await h.registrar.register(task(transition(event, 6, 'RUNNING', 'RUNNING')))).toMatchObject({
      action: 'ignored',
      reason: 'stopped',
    });
    expect(await h.endpoints()).toEqual({});
    expect((await h.registry.readTask(task(event))).record).toBeUndefined();
  });

  it('never deletes a newer task’s key at a reused ip:port (KEY_FORMAT=addr)', async () => {
    h = await createHarness({ KEY_FORMAT: 'addr' });
    const old = fargateEvent(42, { salt: 'old' });
    const reused = fargateEvent(42, { detail: { startedAt: '2020-01-23T19:00:00.000Z' }, salt: 'new' }); // same IP 10.0.0.42, another task, started later
    await start(h, old);
    await start(h, reused);
    const key = `${service(h)}10.0.0.42:50051`;
    const newLease = (await h.registry.readTask(task(reused))).record!.lease;
    expect(await leaseOf(h, key)).toBe(newLease);

    expect(await stop(h, transition(old, 5, 'STOPPED', 'STOPPED'))).toMatchObject({ action: 'removed' });
    const endpoints = await h.endpoints();
    expect(Object.keys(endpoints)).toEqual([key]);
    expect(JSON.parse(JSON.parse(endpoints[key]!).Metadata).taskArn).toBe(reused.detail.taskArn);
    expect(await leaseOf(h, key)).toBe(newLease);
  });

  it('ends with the task stopped when register and deregister race', async () => {
    h = await createHarness();
    for (let n = 50; n < 60; n++) {
      const event = fargateEvent(n);
      h.aws.putTaskFromDetail(event.detail);
      const stopping = transition(event, 5, 'RUNNING', 'STOPPED');
      await Promise.all([
        h.registrar.register(task(event)),
        deregisterTask(h.registry, task(stopping)),
        h.registrar.register(task(event)),
      ]);
      const state = await h.registry.readTask(task(event));
      expect(state.tombstone).toBeDefined();
      expect(state.record).toBeUndefined();
    }
    expect(await h.endpoints()).toEqual({});
  });
});

describe('renew', () => {
  it('renews the leases of running tasks and reports counts', async () => {
    h = await createHarness();
    for (let n = 60; n < 63; n++) await start(h, fargateEvent(n));
    const leases = (await h.registry.listRecords()).records.map((r) => r.lease);
    await new Promise((r) => setTimeout(r, 2100));
    const summary = await renewTasks(h.registrar);
    expect(summary).toMatchObject({
      records: 3,
      renewed: 3,
      registered: 0,
      removed: 0,
      withdrawn: 0,
      repaired: 0,
      failed: 0,
    });
    for (const lease of leases) expect(await ttl(h, lease)).toBeGreaterThan(h.config.leaseTtlSeconds - 2);
    expect(h.aws.count('DescribeTasks')).toBe(1);
    expect(h.aws.count('ListTasks')).toBe(1);
  });

  it('removes stopped, stopping and missing tasks and withdraws unhealthy ones', async () => {
    h = await createHarness();
    const events = [70, 71, 72, 73, 74].map((n) => fargateEvent(n));
    for (const e of events) await start(h, e);
    h.aws.updateTask(events[0]!.detail.taskArn, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' });
    h.aws.updateTask(events[1]!.detail.taskArn, { desiredStatus: 'STOPPED' });
    h.aws.tasks.delete(events[2]!.detail.taskArn);
    h.aws.updateTask(events[3]!.detail.taskArn, { healthStatus: 'UNHEALTHY' });
    const summary = await renewTasks(h.registrar);
    // A MISSING answer is only marked on the first tick: it is removed once a later tick confirms it.
    expect(summary).toMatchObject({ records: 5, renewed: 1, removed: 2, missing: 1, withdrawn: 1, failed: 0 });
    const idOf = (e: Json) => e.detail.taskArn.split('/').pop();
    const kept = Object.keys(await h.endpoints());
    expect(kept).toHaveLength(2);
    for (const e of [events[2]!, events[4]!]) expect(kept.some((k) => k.includes(idOf(e)))).toBe(true);
    expect((await h.registry.readTask(task(events[3]!))).record?.record.state).toBe(RecordState.Withdrawn);
    expect((await h.registry.readTask(task(events[1]!))).tombstone).toBeDefined();

    h.aws.updateTask(events[3]!.detail.taskArn, { healthStatus: 'HEALTHY' });
    expect(await renewTasks(h.registrar)).toMatchObject({ registered: 1, renewed: 1, removed: 1 });
    expect(Object.keys(await h.endpoints())).toHaveLength(2);
    expect(Object.keys(await h.endpoints()).some((k) => k.includes(idOf(events[2]!)))).toBe(false);
    expect(await h.registry.readTask(task(events[2]!))).toEqual({ record: undefined, tombstone: undefined }); // removed without a tombstone
  });

  it('publishes a pending task once ECS reports it HEALTHY', async () => {
    h = await createHarness();
    const running = runningFivexl(loadEvent('fargate-stopped-essential-container-exited-fivexl'));
    await start(h, running);
    expect(await renewTasks(h.registrar)).toMatchObject({ renewed: 1, registered: 0 });
    expect(await h.endpoints()).toEqual({});
    h.aws.updateTask(running.detail.taskArn, { healthStatus: 'HEALTHY' });
    expect(await renewTasks(h.registrar)).toMatchObject({ registered: 1 });
    expect(Object.keys(await h.endpoints())).toHaveLength(1);
  });

  it('repairs lost events: registers running tasks that have no record', async () => {
    h = await createHarness();
    await start(h, fargateEvent(80));
    for (let n = 81; n < 84; n++) h.aws.putTaskFromDetail(fargateEvent(n).detail); // their events were lost
    const summary = await renewTasks(h.registrar);
    expect(summary).toMatchObject({ records: 1, renewed: 1, repaired: 3, failed: 0 });
    expect(Object.keys(await h.endpoints())).toHaveLength(4);
  });

  it('restores a task whose lease expired while no renew ran', async () => {
    h = await createHarness();
    const event = fargateEvent(85);
    await start(h, event);
    await h.etcd.leaseClient.leaseRevoke({ ID: (await h.registry.readTask(task(event))).record!.lease }); // as if it expired
    expect(await h.endpoints()).toEqual({});
    expect(await renewTasks(h.registrar)).toMatchObject({ records: 0, repaired: 1 });
    expect(Object.keys(await h.endpoints())).toHaveLength(1);
  });

  it('re-registers a task whose lease expired between reading its record and renewing it', async () => {
    h = await createHarness();
    const event = fargateEvent(86);
    await start(h, event);
    // A registry whose record listing is followed by the lease expiring.
    const racing = new (class extends Registry {
      override async listRecords(options?: Parameters<Registry['listRecords']>[0]) {
        const listed = await super.listRecords(options);
        for (const r of listed.records) await this.client.leaseClient.leaseRevoke({ ID: r.lease });
        return listed;
      }
    })(h.etcd, h.config);
    const registrar = new Registrar({ config: h.config, etcd: h.etcd, registry: racing, ecs: h.ecs, log: h.log });
    expect(await renewTasks(registrar)).toMatchObject({ records: 1, registered: 1, renewed: 0, failed: 0 });
    expect(Object.keys(await h.endpoints())).toHaveLength(1);
  });

  it('fails open: when ECS fails, leases are still renewed and nothing is removed', async () => {
    h = await createHarness();
    const events = [90, 91].map((n) => fargateEvent(n));
    for (const e of events) await start(h, e);
    h.aws.updateTask(events[0]!.detail.taskArn, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' });
    h.aws.faults.set('DescribeTasks', { code: 'ServerException', status: 500 });
    const leases = (await h.registry.listRecords()).records.map((r) => r.lease);
    await new Promise((r) => setTimeout(r, 2100));
    const summary = await renewTasks(h.registrar);
    expect(summary).toMatchObject({ records: 2, renewed: 0, failOpen: 2, removed: 0 });
    expect(summary.ecsFailures).toEqual([
      {
        cluster: events[0]!.detail.clusterArn,
        error: expect.stringMatching(/DescribeTasks .* failed: ServerException/),
      },
    ]);
    expect(Object.keys(await h.endpoints())).toHaveLength(2);
    for (const lease of leases) expect(await ttl(h, lease)).toBeGreaterThan(h.config.leaseTtlSeconds - 2);
    expect(h.log.lines.some((l) => l.level === 'warn' && /fail open/.test(l.message))).toBe(true);

    h.aws.faults.clear();
    expect(await renewTasks(h.registrar)).toMatchObject({ removed: 1, renewed: 1 });
  });

  it('keeps going when one task fails, and says which', async () => {
    h = await createHarness();
    await start(h, fargateEvent(95));
    const broken = fargateEvent(96, { detail: { taskDefinitionArn: TASK_DEFINITION_ARN.replace(':1', ':9') } });
    h.aws.putTaskFromDetail(broken.detail); // running, but its task definition cannot be read
    const summary = await renewTasks(h.registrar);
    expect(summary).toMatchObject({ renewed: 1, repaired: 0, failed: 1 });
    expect(summary.failures).toEqual([
      { taskArn: broken.detail.taskArn, error: expect.stringMatching(/DescribeTaskDefinition/) },
    ]);
  });
});

describe('etcd unreachable', () => {
  it('fails with an etcd error within the call deadline and writes nothing', async () => {
    h = await createHarness({ ETCD_ENDPOINTS: 'http://127.0.0.1:1', ETCD_TIMEOUT_MS: '300' });
    const error = await h.registrar.register(task(fargateEvent(99))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as DependencyError).dependency).toBe('etcd');
    expect((error as Error).message).toMatch(/^etcd: lease grant failed/);
  });
});

describe('renew at scale', () => {
  it('pages through records and describes at most 100 tasks per DescribeTasks call', async () => {
    h = await createHarness();
    for (let n = 0; n < 250; n++) await start(h, fargateEvent(1000 + n));
    for (const options of [{ firstPage: 7 }, { firstPage: 7, pageBytes: 4000 }]) {
      const paged = await h.registry.listRecords(options);
      expect(paged.records).toHaveLength(250);
      expect(new Set(paged.records.map((r) => r.key)).size).toBe(250);
    }
    const calls = h.aws.count('DescribeTasks');
    expect(await renewTasks(h.registrar)).toMatchObject({ records: 250, renewed: 250, failed: 0 });
    expect(h.aws.count('DescribeTasks') - calls).toBe(3);
    expect(h.aws.count('ListTasks')).toBe(3); // 250 running tasks, 100 per page
  });
});

describe('renew dry run', () => {
  it('lists every change it would make, writes nothing, and counts what the real tick then does', async () => {
    h = await createHarness();
    const events = [300, 301, 302, 303].map((n) => fargateEvent(n));
    for (const e of events) await start(h, e);
    h.aws.updateTask(events[0]!.detail.taskArn, { desiredStatus: 'STOPPED' });
    h.aws.updateTask(events[1]!.detail.taskArn, { healthStatus: 'UNHEALTHY' });
    h.aws.putTaskFromDetail(fargateEvent(304).detail); // lost event
    const lease = (await h.registry.readTask(task(events[2]!))).record!.lease;
    const before = await h.revisions();
    await new Promise((r) => setTimeout(r, 2100));

    const dry = await renewTasks(h.registrar, { dryRun: true });
    expect(dry).toMatchObject({
      dryRun: true,
      records: 4,
      renewed: 2,
      removed: 1,
      withdrawn: 1,
      repaired: 1,
      failed: 0,
    });
    expect(dry.planned.map((p) => [p.taskArn, p.action]).sort()).toEqual(
      [
        [events[0]!.detail.taskArn, 'deregister'],
        [events[1]!.detail.taskArn, 'withdraw'],
        [fargateEvent(304).detail.taskArn, 'repair'],
      ].sort(),
    );
    expect(await h.revisions()).toEqual(before); // nothing written
    expect(await ttl(h, lease)).toBeLessThan(h.config.leaseTtlSeconds - 2); // not even renewed (a renewal reads TTL - 1)

    const real = await renewTasks(h.registrar);
    expect(real).toMatchObject({
      dryRun: false,
      records: 4,
      renewed: dry.renewed,
      removed: dry.removed,
      withdrawn: dry.withdrawn,
      repaired: dry.repaired,
      planned: [],
    });
  });
});
