/**
 * The exported Lambda handlers, called with the real sample events and a Lambda context, against
 * the real etcd and the local ECS endpoint (configuration from the environment, as in Lambda).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../lib/config';
import { InvalidEventError } from '../../lib/errors';
import { createEtcdClient } from '../../lib/etcd/client';
import { Registry } from '../../lib/etcd/registry';
import type { LocalAws } from '../kit/local-aws';
import { loadEvent, withDetail } from '../kit/events';
import { testEnv } from '../support/harness';
import { captureLogs, type CapturedLogs } from '../support/capture-logs';
import { lambdaContext, scheduledEvent, sqsEvent } from '../kit/lambda';
import { startFunctions, type Functions } from '../kit/platform';
import { CLUSTER_ARN, fargateEvent, transition } from '../kit/events';

let aws: LocalAws;
let env: Record<string, string>;
let handlers: Functions;
let logs: CapturedLogs;

beforeAll(async () => {
  // This file asserts the metrics the handlers write (vitest.config.ts turns them off elsewhere).
  env = testEnv({ POWERTOOLS_METRICS_DISABLED: 'false' });
  ({ aws, functions: handlers } = await startFunctions(env));
  logs = captureLogs();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await aws.stop();
});

const logLines = () => logs.lines();

describe('register handler', () => {
  it('registers the Fargate sample and logs with the event id and task ARN', async () => {
    const event = loadEvent('fargate-awsvpc-running-ecs-devguide');
    aws.putTaskFromDetail(event.detail);
    const result = await handlers.register(event, lambdaContext('register'));
    expect(result).toMatchObject({
      action: 'registered',
      keys: [`${env.REGISTRY_PREFIX}/sample-fargate/c13b4cb40f1f4fe4a2971f76ae5a47ad:50051`],
    });
    const done = logLines().find((l) => l.message === 'register done');
    expect(done).toMatchObject({
      eventId: event.id,
      taskArn: event.detail.taskArn,
      function: 'register',
      level: 'INFO',
    });
    const emf = logLines().filter((l) => '_aws' in l && 'Registered' in l);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ Registered: 1, service: 'ecs-etcd-registrar' });
    expect((emf[0]!.EtcdLatency as number[]).length).toBe(2); // grant + one transaction
  });

  it('ignores a stopping task and says so', async () => {
    const result = await handlers.register(
      loadEvent('fargate-stopped-essential-container-exited-fivexl'),
      lambdaContext('register'),
    );
    expect(result).toMatchObject({
      action: 'ignored',
      reason: expect.stringMatching(/not a started task \(lastStatus STOPPED, desiredStatus STOPPED\)/),
    });
  });

  it('throws a clear error for a malformed event, so the platform keeps it', async () => {
    const event = withDetail(loadEvent('fargate-awsvpc-running-ecs-devguide'), { version: 'four' });
    await expect(handlers.register(event, lambdaContext('register'))).rejects.toThrow(InvalidEventError);
    await expect(handlers.register(event, lambdaContext('register'))).rejects.toThrow(
      'invalid event at detail.version',
    );
    const failed = logLines().filter((l) => l.message === 'register failed');
    expect(failed.at(-1)).toMatchObject({ errorName: 'InvalidEventError', retryable: false, level: 'ERROR' });
  });

  it('throws for an event that is not an ECS task state change', async () => {
    await expect(handlers.register(scheduledEvent, lambdaContext('register'))).rejects.toThrow(
      /expected source "aws.ecs"/,
    );
  });
});

describe('deregister handler', () => {
  it('removes the task registered above when its stop arrives', async () => {
    const running = loadEvent('fargate-awsvpc-running-ecs-devguide');
    const stopping = withDetail(running, { version: 5, desiredStatus: 'STOPPED' });
    const result = await handlers.deregister(stopping, lambdaContext('deregister'));
    expect(result).toMatchObject({ action: 'removed', keys: [expect.stringContaining('/sample-fargate/')] });
    expect(await handlers.deregister(stopping, lambdaContext('deregister'))).toMatchObject({ action: 'unchanged' });
  });

  it('remembers the stop of the fivexl sample', async () => {
    expect(
      await handlers.deregister(
        loadEvent('fargate-stopped-essential-container-exited-fivexl'),
        lambdaContext('deregister'),
      ),
    ).toMatchObject({ action: 'tombstoned' });
  });

  it('ignores a running task and says so', async () => {
    const result = await handlers.deregister(
      loadEvent('ec2-running-service-task-ecs-devguide-2019'),
      lambdaContext('deregister'),
    );
    expect(result).toMatchObject({ action: 'ignored', reason: expect.stringMatching(/^not a stopping task/) });
  });
});

describe('renew handler', () => {
  it('accepts the scheduled event and returns the tick summary', async () => {
    const running = withDetail(loadEvent('fargate-awsvpc-running-ecs-devguide'), {
      taskArn: 'arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/0000000000000000000000000000beef',
    });
    aws.putTaskFromDetail(running.detail);
    await handlers.register(running, lambdaContext('register'));
    const summary = await handlers.renew(scheduledEvent, lambdaContext('renew'));
    expect(summary).toMatchObject({ records: 1, renewed: 1, failed: 0 });
  });

  it('accepts any payload', async () => {
    expect(await handlers.renew({}, lambdaContext('renew'))).toMatchObject({ records: 1, renewed: 1 });
  });
});

describe('register handler, SQS batches (EventBridge → SQS → register)', () => {
  const started = (n: number) => {
    const event = fargateEvent(n, { salt: 'sqs' });
    aws.putTaskFromDetail(event.detail);
    return event;
  };
  async function recordOf(event: Record<string, any>) {
    const config = loadConfig({ ...process.env, ...env });
    const client = createEtcdClient(config);
    try {
      return (
        await new Registry(client, config).readTask({
          clusterArn: CLUSTER_ARN,
          taskId: event.detail.taskArn.split('/').pop(),
        })
      ).record?.record;
    } finally {
      client.close();
    }
  }

  it('registers the good messages and reports only the malformed ones, with their message ids', async () => {
    const good = started(1);
    const batch = sqsEvent([good, withDetail(started(2), { version: 'four' }), '{"not json', started(3)]);
    const result = (await handlers.register(batch, lambdaContext('register'))) as {
      batchItemFailures: { itemIdentifier: string }[];
    };
    expect(result.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      [batch.Records[1]!.messageId, batch.Records[2]!.messageId].sort(),
    );
    expect(await recordOf(good)).toMatchObject({ state: 'registered', version: good.detail.version });
    expect(await recordOf(started(3))).toMatchObject({ state: 'registered' });
    const failed = logLines().filter((l) => l.message === 'message failed');
    expect(failed.find((l) => l.messageId === batch.Records[1]!.messageId)).toMatchObject({
      eventId: expect.any(String),
      errorName: 'InvalidEventError',
      retryable: false,
      level: 'ERROR',
    });
    expect(failed.find((l) => l.messageId === batch.Records[2]!.messageId)).toMatchObject({
      errorName: 'InvalidEventError',
      error: expect.objectContaining({ message: expect.stringMatching(/does not carry a JSON event/) }),
    });
    const emf = logLines().filter((l) => '_aws' in l && 'Registered' in l);
    expect(emf.at(-1)).toMatchObject({ Registered: [1, 1] }); // one value per message; CloudWatch sums them
  });

  it('applies the messages of one task one after the other, ending at its newest version', async () => {
    const first = started(4);
    const newer = transition(first, first.detail.version + 2, 'RUNNING', 'RUNNING');
    const result = await handlers.register(
      sqsEvent([newer, first, newer, transition(first, first.detail.version + 3, 'RUNNING', 'STOPPED')]),
      lambdaContext('register'),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(await recordOf(first)).toMatchObject({ state: 'registered', version: newer.detail.version });
    const done = logLines()
      .filter((l) => l.message === 'message done')
      .slice(-4)
      .map((l) => l.result as { action: string; reason?: string });
    expect(done).toEqual([
      expect.objectContaining({ action: 'registered' }),
      expect.objectContaining({ action: 'ignored', reason: 'stale' }),
      expect.objectContaining({ action: 'ignored', reason: 'duplicate' }),
      expect.objectContaining({ action: 'ignored', reason: expect.stringMatching(/^not a started task/) }),
    ]);
  });

  it('fails the invocation when every message failed, so SQS keeps the whole batch', async () => {
    await expect(handlers.register(sqsEvent(['[]', '{}']), lambdaContext('register'))).rejects.toThrow(
      /All records failed/,
    );
  });
});
