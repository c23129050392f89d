/**
 * Old RUNNING events (a dead-letter replay days later, a retry after the tombstone expired) through
 * the real register handler, against the real etcd and the local ECS endpoint: only ECS's current
 * answer can say whether the task still runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../lib/errors';
import { prefixEnd } from '../../lib/etcd/registry';
import { testEnv } from '../support/harness';
import { lambdaContext } from '../kit/lambda';
import { startOnSharedEtcd, type OnSharedEtcd } from '../kit/platform';
import { CLUSTER_ARN, fargateEvent, transition } from '../kit/events';
import { recordKey, tombstoneKey } from '../../lib/keys';

type Json = Record<string, any>;

let env: Record<string, string>;
let rig: OnSharedEtcd;

beforeAll(async () => {
  // Tombstones of a minute (the shortest allowed); the test expires one, as a day-old one would in production.
  env = testEnv({ TOMBSTONE_TTL_SECONDS: '60', EVENT_CONFIRM_AGE_SECONDS: '30', POWERTOOLS_LOG_LEVEL: 'SILENT' });
  rig = await startOnSharedEtcd(env);
});
afterAll(async () => rig?.stop());

const DAYS_AGO = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
const register = (event: Json) => rig.functions.register(event, lambdaContext('register'));
const aged = (event: Json, time: string | undefined): Json => ({ ...event, time });

/** `key → mod revision` under both prefixes: equal before and after means nothing was written. */
async function revisions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const prefix of [`${env.REGISTRY_PREFIX}/`, `${env.STATE_PREFIX}/`]) {
    const res = await rig.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
    for (const kv of res.kvs) out[kv.key.toString()] = kv.mod_revision;
  }
  return out;
}

const endpointKeys = async () => Object.keys(await revisions()).filter((k) => k.startsWith(`${env.REGISTRY_PREFIX}/`));
const taskIdOf = (event: Json) => (event.detail.taskArn as string).split('/').pop()!;

describe('an old RUNNING event', () => {
  it('of a task that stopped and whose tombstone expired publishes nothing', async () => {
    const event = fargateEvent(1, { salt: 'replay' });
    rig.aws.putTaskFromDetail(event.detail);
    expect(await register(event)).toMatchObject({ action: 'registered' });
    const stopped = transition(event, 6, 'STOPPED', 'STOPPED');
    rig.aws.putTaskFromDetail(stopped.detail);
    expect(await rig.functions.deregister(stopped, lambdaContext('deregister'))).toMatchObject({ action: 'removed' });

    // Expire the tombstone, as a 24 h one has when a DLQ is redriven days later: revoking its lease
    // is what etcd does when the lease's TTL runs out.
    const tombstone = tombstoneKey(env.STATE_PREFIX!, CLUSTER_ARN, taskIdOf(event));
    const [held] = (await rig.client.kv.range({ key: Buffer.from(tombstone) })).kvs;
    expect(held).toBeDefined();
    await rig.client.leaseClient.leaseRevoke({ ID: held!.lease });
    expect((await rig.client.kv.range({ key: Buffer.from(tombstone) })).kvs).toEqual([]);

    const before = await revisions();
    const outcome = await register(aged(event, DAYS_AGO(3)));
    expect(outcome).toMatchObject({
      action: 'ignored',
      reason: expect.stringMatching(/s old, beyond EVENT_CONFIRM_AGE_SECONDS, and ECS now says STOPPED\/STOPPED/),
    });
    expect(await revisions()).toEqual(before);
  });

  it('of a task ECS no longer knows (stopped long ago, its stop event lost: no tombstone ever) publishes nothing', async () => {
    const event = fargateEvent(2, { salt: 'replay' });
    const before = await revisions();
    const calls = rig.aws.count('DescribeTasks');
    expect(await register(aged(event, DAYS_AGO(10)))).toMatchObject({
      action: 'ignored',
      reason: expect.stringContaining('ECS does not know the task (MISSING'),
    });
    expect(rig.aws.count('DescribeTasks') - calls).toBe(1);
    expect(await revisions()).toEqual(before);
  });

  it('of a task ECS says is stopping publishes nothing', async () => {
    const event = fargateEvent(3, { salt: 'replay' });
    rig.aws.putTaskFromDetail(transition(event, 5, 'RUNNING', 'STOPPED').detail);
    const before = await revisions();
    expect(await register(aged(event, DAYS_AGO(1)))).toMatchObject({
      action: 'ignored',
      reason: expect.stringContaining('ECS now says RUNNING/STOPPED'),
    });
    expect(await revisions()).toEqual(before);
  });

  it('of a task that still runs registers it from ECS’s current answer', async () => {
    const event = fargateEvent(4, { salt: 'replay' });
    rig.aws.putTaskFromDetail(transition(event, 7, 'RUNNING', 'RUNNING').detail); // ECS has moved on to version 7
    const outcome = await register(aged(event, DAYS_AGO(2)));
    expect(outcome).toMatchObject({
      action: 'registered',
      keys: [`${env.REGISTRY_PREFIX}/sample-fargate/${taskIdOf(event)}:50051`],
    });
    const record = (
      await rig.client.kv.range({ key: Buffer.from(recordKey(env.STATE_PREFIX!, CLUSTER_ARN, taskIdOf(event))) })
    ).kvs[0]!;
    expect(JSON.parse(record.value.toString())).toMatchObject({ version: 7 });
  });

  it('without a time is confirmed with ECS too (it cannot be shown to be recent)', async () => {
    const event = fargateEvent(5, { salt: 'replay' });
    const before = await revisions();
    expect(await register(aged(event, undefined))).toMatchObject({
      action: 'ignored',
      reason: expect.stringContaining('event without a time'),
    });
    expect(await revisions()).toEqual(before);
  });

  it('with a time that is not one is rejected, naming the field, and writes nothing', async () => {
    const before = await revisions();
    const error = await register(aged(fargateEvent(6, { salt: 'replay' }), '2026-13-45T99:99:99Z')).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as InvalidEventError).path).toBe('time');
    expect(await revisions()).toEqual(before);
  });

  it('still rejects a task it cannot publish whatever its age, before asking ECS', async () => {
    const definition = 'arn:aws:ecs:us-west-2:111122223333:task-definition/replay-bad-label:1';
    rig.aws.putTaskDefinition({
      taskDefinitionArn: definition,
      family: 'replay-bad-label',
      networkMode: 'awsvpc',
      containerDefinitions: [
        {
          name: 'FargateApp',
          portMappings: [{ containerPort: 50051, protocol: 'tcp' }],
          dockerLabels: { 'registrar.service': '../etc' },
        },
      ],
    });
    const event = aged(fargateEvent(7, { detail: { taskDefinitionArn: definition }, salt: 'replay' }), DAYS_AGO(5));
    rig.aws.putTaskFromDetail(event.detail);
    const calls = rig.aws.count('DescribeTasks');
    const before = await revisions();
    await expect(register(event)).rejects.toThrow(InvalidEventError);
    expect(rig.aws.count('DescribeTasks')).toBe(calls);
    expect(await revisions()).toEqual(before);
  });
});

describe('a recent RUNNING event', () => {
  it('is registered without asking ECS', async () => {
    const event = fargateEvent(8, { salt: 'replay' });
    const calls = rig.aws.count('DescribeTasks');
    expect(await register(event)).toMatchObject({ action: 'registered' });
    expect(rig.aws.count('DescribeTasks')).toBe(calls);
    expect(await endpointKeys()).toContain(`${env.REGISTRY_PREFIX}/sample-fargate/${taskIdOf(event)}:50051`);
  });
});
