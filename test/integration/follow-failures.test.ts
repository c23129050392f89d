/**
 * Bad input to the follow function: a malformed follow-up message, or one naming a task etcd does
 * not know, gets a clear ERROR log line and a metric, writes nothing and is acknowledged (never
 * retried); a failure that can pass (ECS down) is reported back to SQS, retried, and after the
 * queue's maxReceiveCount lands in the dead-letter queue, still writing nothing. And the drain
 * check of deregister: no ECS read without a pending sibling, an ECS failure never blocks the stop.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { prefixEnd } from '../../lib/etcd/registry';
import { FOLLOW_MESSAGE_TYPE } from '../../lib/follow/message';
import { testEnv } from '../support/harness';
import { checkedTask, putCheckedDefinition } from '../kit/health-checked';
import { captureLogs, type CapturedLogs } from '../support/capture-logs';
import { lambdaContext, sqsEvent } from '../kit/lambda';
import { startFollowPlatform, type FollowPlatform } from '../kit/platform';

let platform: FollowPlatform;
let env: Record<string, string>;
let client: Etcd3;
let logs: CapturedLogs;

beforeAll(async () => {
  // These tests read the metric lines (vitest turns metrics off elsewhere).
  env = testEnv({ POWERTOOLS_METRICS_DISABLED: 'false' });
  platform = await startFollowPlatform(env, { maxReceiveCount: 3, visibilityTimeoutMs: 300 });
  putCheckedDefinition(platform.aws, { timing: { interval: 1 } });
  client = new Etcd3({ hosts: env.ETCD_ENDPOINTS! });
  logs = captureLogs();
});
afterAll(async () => {
  vi.restoreAllMocks();
  client?.close();
  await platform?.aws.stop();
});

/** Every key under both prefixes with its mod revision: equal before and after means nothing was written. */
async function snapshot(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const prefix of [`${env.REGISTRY_PREFIX}/`, `${env.STATE_PREFIX}/`]) {
    const res = await client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
    for (const kv of res.kvs) out[kv.key.toString()] = kv.mod_revision;
  }
  return out;
}

const message = (changes: Record<string, unknown> = {}) => ({
  type: FOLLOW_MESSAGE_TYPE,
  taskArn: 'arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/0000000000000000000000000000beef',
  clusterArn: 'arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster',
  taskDefinitionArn: 'arn:aws:ecs:us-west-2:111122223333:task-definition/checked-api:1',
  checkEverySeconds: 1,
  giveUpAt: Date.now() + 60_000,
  attempt: 1,
  ...changes,
});

describe('follow function: permanent errors', () => {
  it('acknowledges malformed messages and unknown tasks with a clear ERROR line and a metric, writing and sending nothing', async () => {
    // A task etcd knows (pending) next to the bad ones, so the batch is not empty of real work.
    const known = checkedTask(platform.aws, 1, { salt: 'input' });
    await platform.functions.register(known.running, lambdaContext('register'));
    const before = await snapshot();
    const sent = platform.aws.queue(platform.queueUrl).sent;
    const event = sqsEvent([
      '{"type":',
      { source: 'aws.ecs', 'detail-type': 'ECS Task State Change', detail: {} },
      message({ taskArn: 'arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/../../registrar' }),
      message(), // well formed, but no such task in etcd
    ]);
    const ids = event.Records.map((r) => r.messageId);

    expect(await platform.functions.follow(event, lambdaContext('follow'))).toEqual({ batchItemFailures: [] });

    const rejected = logs.lines().filter((l) => l.message === 'follow-up message rejected (acknowledged, not retried)');
    expect(rejected.map((l) => [l.messageId, l.level, l.errorName, l.error])).toEqual([
      [ids[0], 'ERROR', 'InvalidEventError', 'invalid event at body: follow-up message body is not JSON'],
      [
        ids[1],
        'ERROR',
        'InvalidEventError',
        `invalid event at body.type: follow-up message: expected "${FOLLOW_MESSAGE_TYPE}"`,
      ],
      [ids[2], 'ERROR', 'InvalidEventError', 'invalid event at body.taskArn: expected an ECS task ARN'],
      [
        ids[3],
        'ERROR',
        'InvalidEventError',
        `invalid event at body.taskArn: follow-up names an unknown task ${message().taskArn}: etcd holds no record of the task (never recorded pending, or its lease expired)`,
      ],
    ]);
    const emf = logs.lines().filter((l) => '_aws' in l && 'FollowUpRejected' in l);
    expect(emf.at(-1)).toMatchObject({ FollowUpRejected: 4 });
    expect(await snapshot()).toEqual(before);
    expect(platform.aws.queue(platform.queueUrl).sent).toBe(sent);
    expect(platform.aws.count('DescribeTasks')).toBe(0); // no ECS read for any of them
  });

  it('throws a clear error for an event that is not an SQS batch', async () => {
    await expect(platform.functions.follow({ source: 'aws.ecs' }, lambdaContext('follow'))).rejects.toThrow(
      'expected an SQS event (Records from aws:sqs) of follow-up messages',
    );
  });
});

describe('follow function: retryable errors', () => {
  it('reports the messages back while ECS fails; after maxReceiveCount they are dead letters, nothing written', async () => {
    platform.aws.faults.set('DescribeTasks', { code: 'ServerException', status: 500 });
    platform.aws.queue(platform.queueUrl).messages.length = 0; // the first test's follow-ups
    const task = checkedTask(platform.aws, 2, { salt: 'input' });
    await platform.functions.register(task.running, lambdaContext('register'));
    const before = await snapshot();
    const consumer = platform.deliver();
    try {
      const deadline = Date.now() + 15_000;
      while (platform.aws.queue(platform.deadLetterUrl).messages.length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
    } finally {
      await consumer.stop();
      platform.aws.faults.delete('DescribeTasks');
    }
    const dead = platform.aws.queue(platform.deadLetterUrl).messages;
    expect(dead.map((m) => [JSON.parse(m.body).taskArn, m.receiveCount])).toEqual([[task.taskArn, 3]]);
    expect(consumer.deliveries.map((d) => d.failed.length)).toEqual([1, 1, 1]);
    const failed = logs.lines().filter((l) => l.message === 'follow-up message failed (delivered again)');
    expect(failed.at(-1)).toMatchObject({
      level: 'ERROR',
      taskArn: task.taskArn,
      errorName: 'DependencyError',
      error: expect.stringContaining(
        'DescribeTasks in arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster failed: ServerException',
      ),
    });
    expect(await snapshot()).toEqual(before);
  }, 30_000);
});

describe('deregister: the drain check never holds up a stop', () => {
  it('asks ECS nothing when the stopping task has no pending sibling', async () => {
    const old = checkedTask(platform.aws, 3, { salt: 'drain', service: 'drain-alone' });
    const healthy = { ...old.running, detail: { ...old.running.detail, healthStatus: 'HEALTHY' } };
    expect(await platform.functions.register(healthy, lambdaContext('register'))).toMatchObject({
      action: 'registered',
    });
    const calls = platform.aws.count('DescribeTasks');
    expect(await platform.functions.deregister(old.stop(), lambdaContext('deregister'))).toEqual({
      action: 'removed',
      taskArn: old.taskArn,
      keys: [expect.stringContaining('/drain-alone/')],
    });
    expect(platform.aws.count('DescribeTasks')).toBe(calls);
  });

  it('logs an ECS failure during the drain check and deletes the stopping task anyway', async () => {
    const old = checkedTask(platform.aws, 4, { salt: 'drain', service: 'drain-failing' });
    const fresh = checkedTask(platform.aws, 5, { salt: 'drain', service: 'drain-failing' });
    await platform.functions.register(
      { ...old.running, detail: { ...old.running.detail, healthStatus: 'HEALTHY' } },
      lambdaContext('register'),
    );
    expect(await platform.functions.register(fresh.running, lambdaContext('register'))).toMatchObject({
      action: 'pending',
    });
    fresh.report('HEALTHY');
    platform.aws.faults.set('DescribeTasks', { code: 'ServerException', status: 500 });
    try {
      const outcome = await platform.functions.deregister(old.stop(), lambdaContext('deregister'));
      expect(outcome).toMatchObject({
        action: 'removed',
        taskArn: old.taskArn,
        drained: { checked: 1, published: [], errors: [expect.stringContaining('ServerException')] },
      });
    } finally {
      platform.aws.faults.delete('DescribeTasks');
    }
    expect(
      logs
        .lines()
        .filter(
          (l) => l.message === 'drain check partly failed; the stop goes ahead (the follow-up and renew catch up)',
        )
        .at(-1),
    ).toMatchObject({ level: 'WARN', taskArn: old.taskArn });
    expect(await client.getAll().prefix(`${env.REGISTRY_PREFIX}/drain-failing/`).keys()).toEqual([]);
  });

  it('publishes the HEALTHY pending sibling before deleting the stopping task', async () => {
    const old = checkedTask(platform.aws, 6, { salt: 'drain', service: 'drain-ok' });
    const fresh = checkedTask(platform.aws, 7, { salt: 'drain', service: 'drain-ok' });
    await platform.functions.register(
      { ...old.running, detail: { ...old.running.detail, healthStatus: 'HEALTHY' } },
      lambdaContext('register'),
    );
    await platform.functions.register(fresh.running, lambdaContext('register'));
    fresh.report('HEALTHY');
    const outcome = await platform.functions.deregister(old.stop(), lambdaContext('deregister'));
    expect(outcome).toMatchObject({
      action: 'removed',
      drained: { checked: 1, published: [fresh.taskArn], errors: [] },
    });
    expect(await client.getAll().prefix(`${env.REGISTRY_PREFIX}/drain-ok/`).keys()).toEqual([
      `${env.REGISTRY_PREFIX}/drain-ok/${fresh.taskId}:50051`,
    ]);
  });
});
