/**
 * KEY_FORMAT=addr: one ip:port, reused by ECS for a new task while events of the old one are still
 * on their way. Through the real handlers, against the real etcd and the local ECS endpoint, with
 * VALUE_FORMAT=addr (values carry no metadata: who holds a key is learnt from the records alone).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { WriteSource } from '../../lib/decide';
import { AwsEcsReader } from '../../lib/ecs/api';
import { parseTaskStateChange } from '../../lib/ecs/event';
import { prefixEnd, Registry } from '../../lib/etcd/registry';
import { Registrar } from '../../lib/registrar';
import { checkRegistry, etcdSnapshot } from '../support/etcd';
import { memoryLog, testEnv } from '../support/harness';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { startOnSharedEtcd, type OnSharedEtcd } from '../kit/platform';
import { fargateEvent, transition } from '../kit/events';
import { loadEc2 } from '../../lib/ecs/ec2-loader';
import { recordKey } from '../../lib/keys';

type Json = Record<string, any>;

let env: Record<string, string>;
let rig: OnSharedEtcd;

beforeAll(async () => {
  env = testEnv({ KEY_FORMAT: 'addr', VALUE_FORMAT: 'addr', POWERTOOLS_LOG_LEVEL: 'SILENT' });
  rig = await startOnSharedEtcd(env);
});
afterAll(async () => rig?.stop());

const EARLIER = '2026-11-20T08:00:00.000Z';
const LATER = '2026-11-20T09:30:00.000Z';
const task = (event: Json) => parseTaskStateChange(event).task;

/** Two tasks ECS gave the same ENI address 10.0.<n>: the old one started first. */
function pair(n: number): { old: Json; reused: Json; key: string } {
  const old = fargateEvent(n, { detail: { startedAt: EARLIER }, salt: 'old' });
  const reused = fargateEvent(n, { detail: { startedAt: LATER }, salt: 'new' });
  const ip = old.detail.attachments[0].details[0].value as string;
  return { old, reused, key: `${env.REGISTRY_PREFIX}/sample-fargate/${ip}:50051` };
}

const register = (event: Json) => rig.functions.register(event, lambdaContext('register'));
const deregister = (event: Json) => rig.functions.deregister(event, lambdaContext('deregister'));

async function keyEntry(key: string): Promise<{ value: string; lease: string } | undefined> {
  const kv = (await rig.client.kv.range({ key: Buffer.from(key) })).kvs[0];
  return kv && { value: kv.value.toString(), lease: kv.lease };
}

async function recordOf(event: Json): Promise<{ lease: string; keys: string[] } | undefined> {
  const t = task(event);
  const kv = (await rig.client.kv.range({ key: Buffer.from(recordKey(env.STATE_PREFIX!, t.clusterArn, t.taskId)) }))
    .kvs[0];
  return kv && { lease: kv.lease, keys: (JSON.parse(kv.value.toString()) as { keys: string[] }).keys };
}

/** The registry's invariants over this file's prefixes (no orphan key, every listed key present). */
async function consistent() {
  const snapshot = await etcdSnapshot(rig.client);
  const mine = snapshot.kvs.filter(
    ([k]) => k.startsWith(`${env.REGISTRY_PREFIX}/`) || k.startsWith(`${env.STATE_PREFIX}/`),
  );
  const report = checkRegistry({ ...snapshot, kvs: mine, leases: [] }, env.REGISTRY_PREFIX!, env.STATE_PREFIX!);
  return { brokenRecords: report.brokenRecords, orphanKeys: report.orphanKeys, sharedLeases: report.sharedLeases };
}

describe('a reused ip:port (KEY_FORMAT=addr)', () => {
  it('a late RUNNING event of the old task leaves the key with the newer task, and the old task’s stop event then keeps it', async () => {
    const { old, reused, key } = pair(1);
    rig.aws.putTaskFromDetail(reused.detail);
    expect(await register(reused)).toMatchObject({ action: 'registered', keys: [key] });
    const newLease = (await recordOf(reused))!.lease;

    // The old task's RUNNING event, delivered late (EventBridge retries, an SQS backlog).
    rig.aws.putTaskFromDetail(old.detail);
    expect(await register(old)).toMatchObject({
      action: 'registered',
      keys: [],
      leftOut: [
        { key, reason: expect.stringContaining(`held by task ${reused.detail.taskArn}, which started at ${LATER}`) },
      ],
    });
    expect(await keyEntry(key)).toEqual({
      value: `${reused.detail.attachments[0].details[0].value}:50051`,
      lease: newLease,
    });
    expect((await recordOf(old))!.keys).toEqual([]);

    expect(await deregister(transition(old, 6, 'STOPPED', 'STOPPED'))).toMatchObject({ action: 'removed' });
    expect(await keyEntry(key)).toMatchObject({ lease: newLease });
    expect(await recordOf(reused)).toEqual({ lease: newLease, keys: [key] });
    expect(await consistent()).toEqual({ brokenRecords: [], orphanKeys: [], sharedLeases: [] });
  });

  it('the old task’s stop found by renew keeps the newer task’s key too', async () => {
    const { old, reused, key } = pair(2);
    rig.aws.putTaskFromDetail(reused.detail);
    await register(reused);
    rig.aws.putTaskFromDetail(old.detail);
    await register(old);
    const newLease = (await recordOf(reused))!.lease;

    rig.aws.updateTask(old.detail.taskArn, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', version: 6 });
    const summary = await rig.functions.renew(scheduledEvent, lambdaContext('renew'));
    expect(summary).toMatchObject({ failed: 0 });
    expect(await recordOf(old)).toBeUndefined();
    expect(await keyEntry(key)).toMatchObject({ lease: newLease });
    expect(await consistent()).toEqual({ brokenRecords: [], orphanKeys: [], sharedLeases: [] });
  });

  it('the newer task takes the key over from the older one that still holds it (its stop not seen yet)', async () => {
    const { old, reused, key } = pair(3);
    rig.aws.putTaskFromDetail(old.detail);
    expect(await register(old)).toMatchObject({ action: 'registered', keys: [key] });
    rig.aws.putTaskFromDetail(reused.detail);
    expect(await register(reused)).toMatchObject({ action: 'registered', keys: [key] });
    const newLease = (await recordOf(reused))!.lease;
    expect(await keyEntry(key)).toMatchObject({ lease: newLease });

    expect(await deregister(transition(old, 6, 'STOPPED', 'STOPPED'))).toMatchObject({ action: 'removed' });
    expect(await keyEntry(key)).toMatchObject({ lease: newLease });
    expect(await consistent()).toEqual({ brokenRecords: [], orphanKeys: [], sharedLeases: [] });
  });

  it('a repair from ECS’s answer (renew’s register) never takes the key from the newer task', async () => {
    const { old, reused, key } = pair(4);
    rig.aws.putTaskFromDetail(reused.detail);
    await register(reused);
    const newLease = (await recordOf(reused))!.lease;

    // What renew does for a task ECS lists as running without a record, or whose keys it finds missing.
    const config = loadConfig(env);
    const registry = new Registry(rig.client, config);
    const registrar = new Registrar({
      config,
      etcd: rig.client,
      registry,
      ecs: new AwsEcsReader(undefined, { ec2: loadEc2 }),
      log: memoryLog(),
    });
    rig.aws.putTaskFromDetail(old.detail);
    const outcome = await registrar.register(task(old), { source: WriteSource.Ecs });
    expect(outcome).toMatchObject({ action: 'registered', keys: [], leftOut: [{ key }] });
    expect(await keyEntry(key)).toMatchObject({ lease: newLease });
    expect(await consistent()).toEqual({ brokenRecords: [], orphanKeys: [], sharedLeases: [] });
  });

  it('leaves nothing of either task once both stopped', async () => {
    const { old, reused } = pair(5);
    rig.aws.putTaskFromDetail(reused.detail);
    await register(reused);
    rig.aws.putTaskFromDetail(old.detail);
    await register(old);
    await deregister(transition(reused, 6, 'RUNNING', 'STOPPED'));
    await deregister(transition(old, 6, 'STOPPED', 'STOPPED'));
    const left = await rig.client.kv.range({
      key: Buffer.from(`${env.REGISTRY_PREFIX}/sample-fargate/10.0.0.5:`),
      range_end: prefixEnd(`${env.REGISTRY_PREFIX}/sample-fargate/10.0.0.5:`),
    });
    expect(left.kvs.map((kv) => kv.key.toString())).toEqual([]);
  });
});
