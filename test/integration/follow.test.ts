/**
 * Health-checked services end to end: the real register, deregister and follow handlers, real etcd,
 * the local ECS endpoint and a local follow queue whose due messages are delivered to the follow
 * handler as SQS events. Health checks run every 2 s (the task definition says so), so a follow-up
 * check falls due every 2 s.
 *
 * Rolling deploys as ECS runs them with minimumHealthyPercent 100: new tasks start (RUNNING, not
 * yet HEALTHY), turn HEALTHY at seeded random moments, and right after each one does ECS stops one
 * old task (desiredStatus STOPPED → deregister). Replay a run with FOLLOW_SEED=<seed>.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordKey, serviceDirectory } from '../../lib/keys';
import { CLUSTER_ARN } from '../kit/events';
import type { Delivery, QueueConsumer } from '../kit/local-sqs';
import { testEnv } from '../support/harness';
import { checkedTask, putCheckedDefinition, recordService, type CheckedTask } from '../kit/health-checked';
import { lambdaContext } from '../kit/lambda';
import { startFollowPlatform, type FollowPlatform } from '../kit/platform';
import { mulberry32, seedFrom } from '../kit/random';

let platform: FollowPlatform;
let env: Record<string, string>;
let client: Etcd3;
let consumer: QueueConsumer;
/** After each follow delivery: which of its tasks had an endpoint key when the handler returned. */
const publishedAtEnd = new Map<Delivery, Set<string>>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const directory = (service: string) => serviceDirectory(env.REGISTRY_PREFIX!, service);
const taskIdOf = (arn: string) => arn.split('/').pop()!;

async function publishedIds(service: string): Promise<Set<string>> {
  const keys = await client.getAll().prefix(directory(service)).keys();
  return new Set(keys.map((k) => k.slice(directory(service).length).split(':')[0]!));
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  env = testEnv({ POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });
  platform = await startFollowPlatform(env);
  putCheckedDefinition(platform.aws, { timing: { interval: 2 } });
  client = new Etcd3({ hosts: env.ETCD_ENDPOINTS! });
  consumer = platform.deliver({
    onDelivery: async (delivery) => {
      const services = new Set(['deploy-2', 'deploy-10', 'never', 'scale-out']);
      const ids = new Set<string>();
      for (const service of services) for (const id of await publishedIds(service)) ids.add(id);
      publishedAtEnd.set(delivery, ids);
    },
  });
});
afterAll(async () => {
  await consumer?.stop();
  client?.close();
  await platform?.aws.stop();
});

/** Registers tasks through the register handler and expects each recorded pending. */
async function start(tasks: readonly CheckedTask[]): Promise<void> {
  for (const task of tasks) {
    const outcome = await platform.functions.register(task.running, lambdaContext('register'));
    expect(outcome).toMatchObject({ action: 'pending', taskArn: task.taskArn });
  }
}

async function rollingDeploy(service: string, size: number): Promise<void> {
  const seed = seedFrom('FOLLOW_SEED');
  console.log(`rolling deploy ${size} → ${size} of ${service}: FOLLOW_SEED=${seed}`);
  const random = mulberry32(seed);
  const salt = `${service.replace(/\W/g, '')}${seed.toString(16)}`.slice(0, 12);

  // The old tasks: running and HEALTHY, published by their first follow-up check.
  const old = Array.from({ length: size }, (_, i) => checkedTask(platform.aws, i, { salt: `o${salt}`, service }));
  await start(old);
  for (const task of old) task.report('HEALTHY');
  await until('the old tasks are published', async () => (await publishedIds(service)).size === size);

  const recording = await recordService(client, directory(service));
  const fresh = Array.from({ length: size }, (_, i) => checkedTask(platform.aws, i, { salt: `n${salt}`, service }));
  await start(fresh);
  const healthyAt = new Map<string, number>();
  // Each new task turns HEALTHY at a random moment before its first follow-up check (their first
  // probes pass about together), and ECS stops one old task right after (within 200 ms), without
  // waiting for the registrar: only the drain check stands between the last stop and an empty
  // service.
  await Promise.all(
    fresh.map(async (task, i) => {
      await sleep(200 + random() * 1300);
      task.report('HEALTHY');
      healthyAt.set(task.taskArn, performance.now());
      await sleep(random() * 200);
      const stopped = await platform.functions.deregister(old[i]!.stop(), lambdaContext('deregister'));
      expect(stopped).toMatchObject({ action: 'removed', taskArn: old[i]!.taskArn });
    }),
  );
  await until('every new task is published', async () => (await publishedIds(service)).size === size);
  await sleep(200); // let the watch deliver the last revisions
  await recording.stop();

  // Never zero endpoints, from the first new RUNNING to the last old STOPPED and after.
  expect(Math.min(...recording.counts), `endpoint counts seen: ${recording.counts.join(',')}`).toBeGreaterThan(0);
  expect([...(await publishedIds(service))].sort()).toEqual(fresh.map((t) => t.taskId).sort());

  await expectPublishedWithinOneCheck(fresh, healthyAt, service);
}

/**
 * Each task is published by the first follow-up check of it that began after it turned HEALTHY
 * (or earlier, by a drain check).
 */
async function expectPublishedWithinOneCheck(
  tasks: readonly CheckedTask[],
  healthyAt: ReadonlyMap<string, number>,
  service: string,
): Promise<void> {
  for (const task of tasks) {
    const first = consumer.deliveries.find(
      (d) => d.startedAt >= healthyAt.get(task.taskArn)! && d.messages.some((m) => m.body.includes(task.taskArn)),
    );
    const publishedByThen = first
      ? publishedAtEnd.get(first)?.has(task.taskId)
      : (await publishedIds(service)).has(task.taskId);
    expect(publishedByThen, `${task.taskArn}: not published by the first follow-up check after HEALTHY`).toBe(true);
  }
}

describe('a rolling deploy of a health-checked service', () => {
  it('2 → 2: never leaves the service without endpoints; each new task published within one check of turning HEALTHY', () =>
    rollingDeploy('deploy-2', 2));

  it(
    '10 → 10: never leaves the service without endpoints; each new task published within one check of turning HEALTHY',
    () => rollingDeploy('deploy-10', 10),
    60_000,
  );
});

describe('a scale-out of a health-checked service (no stop to trigger a drain check)', () => {
  it('publishes each new task by the first follow-up check after it turns HEALTHY', async () => {
    const seed = seedFrom('FOLLOW_SEED');
    console.log(`scale-out of 5: FOLLOW_SEED=${seed}`);
    const random = mulberry32(seed);
    const tasks = Array.from({ length: 5 }, (_, i) =>
      checkedTask(platform.aws, i, { salt: `s${seed.toString(16)}`, service: 'scale-out' }),
    );
    await start(tasks);
    const healthyAt = new Map<string, number>();
    await Promise.all(
      tasks.map(async (task) => {
        await sleep(random() * 5000);
        task.report('HEALTHY');
        healthyAt.set(task.taskArn, performance.now());
      }),
    );
    await until('every task is published', async () => (await publishedIds('scale-out')).size === tasks.length);
    await expectPublishedWithinOneCheck(tasks, healthyAt, 'scale-out');
  }, 30_000);
});

describe('tasks that must never be published', () => {
  it('one that never turns healthy, one that turns UNHEALTHY, one stopped while pending (event handled or not yet)', async () => {
    const [never, unhealthy, stoppedWithEvent, stoppedInEcs] = [0, 1, 2, 3].map((i) =>
      checkedTask(platform.aws, i, { salt: 'nv', service: 'never' }),
    ) as [CheckedTask, CheckedTask, CheckedTask, CheckedTask];
    const recording = await recordService(client, directory('never'));
    const sentBefore = platform.aws.queue(platform.queueUrl).sent;
    await start([never, unhealthy, stoppedWithEvent, stoppedInEcs]);
    await sleep(500);
    expect(await platform.functions.deregister(stoppedWithEvent.stop(), lambdaContext('deregister'))).toMatchObject({
      action: 'removed',
      keys: [],
    });
    stoppedInEcs.stop(); // ECS says desiredStatus STOPPED; its event has not arrived
    unhealthy.report('UNHEALTHY');
    // Several follow-up checks of each (one every 2 s).
    await sleep(5000);
    await recording.stop();

    expect([...recording.everPublished]).toEqual([]);
    expect(recording.counts.every((c) => c === 0)).toBe(true);
    const record = async (task: CheckedTask) =>
      (await client.get(recordKey(env.STATE_PREFIX!, CLUSTER_ARN, task.taskId)).string()) ?? undefined;
    expect(JSON.parse((await record(never))!)).toMatchObject({ state: 'pending', services: ['never'] });
    expect(JSON.parse((await record(unhealthy))!)).toMatchObject({ state: 'withdrawn', keys: [] });
    expect(await record(stoppedWithEvent)).toBeUndefined();
    expect(JSON.parse((await record(stoppedInEcs))!)).toMatchObject({ state: 'pending' });
    // Only the task still pending keeps being followed; the others' follow-ups ended.
    const queued = platform.aws.queue(platform.queueUrl).messages.map((m) => JSON.parse(m.body).taskArn as string);
    expect(
      queued.filter((arn) => [never, unhealthy, stoppedWithEvent, stoppedInEcs].some((t) => t.taskArn === arn)),
    ).toEqual([never.taskArn]);
    // The pending index lists only the task still pending.
    const listed = await client.getAll().prefix(`${env.STATE_PREFIX}/pending/never/`).keys();
    expect(listed.map(taskIdOf).sort()).toEqual([never.taskId, stoppedInEcs.taskId].sort());
    expect(platform.aws.queue(platform.queueUrl).sent).toBeGreaterThanOrEqual(sentBefore + 4 + 2);
  }, 30_000);
});
