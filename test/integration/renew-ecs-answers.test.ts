/**
 * The renew handler against real ECS answers the registry must survive: MISSING for a task that
 * runs (eventual consistency), endpoint keys lost while a record still lists them, and a cluster
 * deleted in ECS. Real etcd, the real handlers, the local ECS endpoint through the AWS SDK.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { AwsEcsReader } from '../../lib/ecs/api';
import type { RenewSummary } from '../../lib/renew/summary';
import type { LocalAws } from '../kit/local-aws';
import { testEnv } from '../support/harness';
import { captureLogs, type CapturedLogs } from '../support/capture-logs';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { invokeAll, startFunctions, type Functions } from '../kit/platform';
import { CLUSTER_ARN, fargateEvent } from '../kit/events';
import { clusterKey, recordKey, tombstoneKey } from '../../lib/keys';
import { clusterSegment } from '../../lib/deployment';

type Json = Record<string, any>;

let aws: LocalAws;
let client: Etcd3;
let env: Record<string, string>;
let functions: Functions;
let logs: CapturedLogs;

beforeAll(async () => {
  // These tests read the metric lines (vitest turns metrics off elsewhere).
  env = testEnv({ POWERTOOLS_METRICS_DISABLED: 'false' });
  ({ aws, functions } = await startFunctions(env));
  client = new Etcd3({ hosts: inject('etcdEndpoint') });
  logs = captureLogs();
});
afterEach(async () => {
  // Each test starts from an empty registry and an empty ECS.
  aws.tasks.clear();
  aws.describedMissing.clear();
  aws.deletedClusters.clear();
  aws.faults.clear();
  await client.delete().prefix(`${env.REGISTRY_PREFIX}/`);
  await client.delete().prefix(`${env.STATE_PREFIX}/`);
});
afterAll(async () => {
  vi.restoreAllMocks();
  client?.close();
  await aws?.stop();
});

const tick = () => functions.renew(scheduledEvent, lambdaContext('renew', 55_000)) as Promise<RenewSummary>;
const idOf = (event: Json) => (event.detail.taskArn as string).split('/').pop()!;
const endpointKeys = async () => (await client.getAll().prefix(`${env.REGISTRY_PREFIX}/`).keys()).sort();
const keysOf = async (event: Json) => (await endpointKeys()).filter((k) => k.includes(idOf(event)));
const state = (kind: 'tasks' | 'tombstones' | 'missing', event: Json) =>
  client.get(`${env.STATE_PREFIX}/${kind}/${clusterSegment(CLUSTER_ARN)}/${idOf(event)}`).string();
const infoLines = (message: string) => logs.lines().filter((l) => l.level === 'INFO' && l.message === message);

async function registerAll(events: Json[]): Promise<void> {
  for (const e of events) aws.putTaskFromDetail(e.detail);
  expect(
    await invokeAll(
      functions,
      events.map((event) => ({ handler: 'register', event })),
      { concurrency: 4 },
    ),
  ).toEqual([]);
}

describe('a MISSING answer', () => {
  it('never hides a task ListTasks lists, and removes an unlisted one only on a later tick, without a tombstone', async () => {
    const listed = fargateEvent(1, { salt: 'm' }); // running; DescribeTasks answers MISSING, ListTasks lists it
    const gone = fargateEvent(2, { salt: 'm' }); // neither described nor listed
    await registerAll([listed, gone]);
    aws.answerMissing(listed.detail.taskArn);
    aws.tasks.delete(gone.detail.taskArn);
    const before = await endpointKeys();

    const first = await tick();
    expect(first).toMatchObject({ records: 2, renewed: 1, missing: 1, removed: 0, failed: 0 });
    expect(await endpointKeys()).toEqual(before); // both still routable
    expect(await state('tombstones', listed)).toBeNull();
    expect(await state('missing', listed)).toBeNull();
    expect(JSON.parse((await state('missing', gone))!)).toMatchObject({
      taskArn: gone.detail.taskArn,
      firstSeen: expect.any(String),
    });

    const second = await tick();
    expect(second).toMatchObject({ records: 2, renewed: 1, missing: 0, removed: 1, failed: 0 });
    expect(await keysOf(gone)).toEqual([]);
    expect(await keysOf(listed)).toHaveLength(1);
    for (const kind of ['tasks', 'tombstones', 'missing'] as const) expect(await state(kind, gone)).toBeNull();
    expect(second.applied).toContainEqual(
      expect.objectContaining({ taskArn: gone.detail.taskArn, action: 'remove-missing', result: 'done' }),
    );
  });

  it('brings back, on the next tick, a running task removed by mistake (no tombstone blocks it)', async () => {
    const task = fargateEvent(3, { salt: 'm' });
    await registerAll([task]);
    aws.tasks.delete(task.detail.taskArn); // ECS briefly knows nothing of it, on two ticks
    await tick();
    expect(await tick()).toMatchObject({ removed: 1 });
    expect(await keysOf(task)).toEqual([]);

    aws.putTaskFromDetail(task.detail); // it was running all along
    expect(await tick()).toMatchObject({ repaired: 1, failed: 0 });
    expect(await keysOf(task)).toHaveLength(1);
  });

  it('forgets the mark of a task seen again', async () => {
    const task = fargateEvent(4, { salt: 'm' });
    await registerAll([task]);
    aws.answerMissing(task.detail.taskArn);
    aws.updateTask(task.detail.taskArn, { desiredStatus: 'UNLISTED' }); // not listed as RUNNING either
    expect(await tick()).toMatchObject({ missing: 1 });
    expect(await state('missing', task)).not.toBeNull();

    aws.describedMissing.clear();
    aws.updateTask(task.detail.taskArn, { desiredStatus: 'RUNNING' });
    const summary = await tick();
    expect(summary).toMatchObject({ renewed: 1, missing: 0, removed: 0 });
    expect(summary.applied).toEqual([
      expect.objectContaining({ taskArn: task.detail.taskArn, action: 'clear-missing', result: 'done' }),
    ]);
    expect(await state('missing', task)).toBeNull();
    expect(await keysOf(task)).toHaveLength(1);
  });
});

describe('endpoint keys a record lists', () => {
  it('are restored on the task’s lease when deleted or held by another lease, each change on one INFO line', async () => {
    const deleted = fargateEvent(10, { salt: 'k' });
    const taken = fargateEvent(11, { salt: 'k' });
    await registerAll([deleted, taken]);
    const [deletedKey] = await keysOf(deleted);
    const [takenKey] = await keysOf(taken);
    // What an old task's stop does to a shared ip:port key (KEY_FORMAT=addr), and a write that moved one.
    await client.delete().key(deletedKey!);
    const other = await client.leaseClient.leaseGrant({ TTL: 60 });
    await client.put(takenKey!).value('other').lease(other.ID);

    const summary = await tick();
    expect(summary).toMatchObject({ records: 2, restored: 2, renewed: 0, failed: 0 });
    for (const event of [deleted, taken]) {
      const record = JSON.parse((await state('tasks', event))!);
      const [key] = await keysOf(event);
      const kv = (await client.kv.range({ key: Buffer.from(key!) })).kvs[0]!;
      expect(kv.lease).toBe(record.leaseId);
      expect(JSON.parse(kv.value.toString()).Addr).toMatch(/^10\./);
    }
    const lines = infoLines('renew restore-keys');
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.taskArn === deleted.detail.taskArn)).toMatchObject({
      action: 'restore-keys',
      services: ['sample-fargate'],
      keys: [deletedKey],
      reason: expect.stringContaining(deletedKey!),
      result: 'done',
    });

    expect(await tick()).toMatchObject({ restored: 0, renewed: 2 }); // nothing left to restore
  });
});

describe('a deleted cluster', () => {
  const DOOMED = 'arn:aws:ecs:us-west-2:111122223333:cluster/Doomed';
  const inDoomed = (n: number) => {
    const event = fargateEvent(n, { salt: 'd' });
    const arn = `${DOOMED.replace(':cluster/', ':task/')}/${idOf(event)}`;
    return {
      ...event,
      detail: {
        ...event.detail,
        clusterArn: DOOMED,
        taskArn: arn,
        containers: event.detail.containers.map((c: Json) => ({ ...c, taskArn: arn })),
      },
    };
  };
  const doomedRecords = async () =>
    Object.keys(
      await client
        .getAll()
        .prefix(recordKey(env.STATE_PREFIX!, DOOMED, ''))
        .strings(),
    );

  it('keeps its tasks while ECS only fails, or DescribeClusters cannot confirm', async () => {
    const events = [20, 21].map(inDoomed);
    await registerAll(events);
    aws.faults.set('DescribeTasks', { code: 'ClusterNotFoundException' });
    aws.faults.set('ListTasks', { code: 'ClusterNotFoundException' });
    expect(await tick()).toMatchObject({ removed: 0, clustersRemoved: 0, failOpen: 2 }); // DescribeClusters says ACTIVE
    aws.faults.set('DescribeClusters', { code: 'ServerException', status: 500 });
    expect(await tick()).toMatchObject({ removed: 0, clustersRemoved: 0, failOpen: 2 });
    expect(await doomedRecords()).toHaveLength(2);
    expect((await endpointKeys()).filter((k) => events.some((e) => k.includes(idOf(e))))).toHaveLength(2);
  });

  it('has its tasks removed (keys, records, leases) and is forgotten, with an ERROR line and a metric', async () => {
    const events = [22, 23].map(inDoomed);
    const survivor = fargateEvent(24, { salt: 'd' });
    await registerAll([...events, survivor]);
    const leases = Object.values(
      await client
        .getAll()
        .prefix(recordKey(env.STATE_PREFIX!, DOOMED, ''))
        .json(),
    ).map((r) => (r as { leaseId: string }).leaseId);
    expect(await client.get(clusterKey(env.STATE_PREFIX!, DOOMED)).string()).toBe(DOOMED);
    aws.deleteCluster(DOOMED);

    const summary = await tick();
    expect(summary).toMatchObject({ records: 3, removed: 2, clustersRemoved: 1, renewed: 1, failed: 0 });
    expect(await doomedRecords()).toEqual([]);
    expect(await endpointKeys()).toEqual(await keysOf(survivor));
    for (const lease of leases) expect(Number((await client.leaseClient.leaseTimeToLive({ ID: lease })).TTL)).toBe(-1);
    expect(await client.get(clusterKey(env.STATE_PREFIX!, DOOMED)).string()).toBeNull();
    expect(await client.get(tombstoneKey(env.STATE_PREFIX!, DOOMED, idOf(events[0]!))).string()).toBeNull();
    const errors = logs
      .lines()
      .filter((l) => l.level === 'ERROR' && String(l.message).startsWith('cluster no longer exists'));
    expect(errors).toEqual([expect.objectContaining({ taskArn: DOOMED, status: 'INACTIVE' })]);
    expect(logs.lines().some((l) => l.ClustersRemoved === 1)).toBe(true);

    // Forgotten: the next tick asks ECS nothing about it.
    const calls = aws.count('ListTasks');
    expect(await tick()).toMatchObject({ records: 1, clustersRemoved: 0, ecsFailures: [] });
    expect(aws.count('ListTasks') - calls).toBe(1);
  });
});

describe('DescribeClusters through the AWS SDK', () => {
  it('says ACTIVE, INACTIVE or MISSING for each cluster, asked by ARN or by name', async () => {
    aws.deleteCluster('Deleted');
    aws.deleteCluster('Forgotten', 'MISSING');
    const reader = new AwsEcsReader();
    const asked = [
      'arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster',
      'Deleted',
      'arn:aws:ecs:us-east-1:123456789012:cluster/Forgotten',
    ];
    expect(Object.fromEntries(await reader.describeClusters(asked))).toEqual({
      [asked[0]!]: 'ACTIVE',
      Deleted: 'INACTIVE',
      [asked[2]!]: 'MISSING',
    });
    expect(reader.calls.describeClusters).toBe(1);
  });
});
