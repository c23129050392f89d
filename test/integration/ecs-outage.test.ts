/**
 * The ECS API throttled (ThrottlingException past the SDK's retries) while renew runs, through the
 * real renew handler: renew fails open — every lease of the cluster renewed, nothing removed, a
 * warning logged and the summary counting it — for as long as ECS keeps failing, and catches up
 * on the first tick ECS answers again.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DEFAULT_LEASE_TTL_SECONDS } from '../../lib/config';
import type { LocalAws } from '../kit/local-aws';
import { testEnv } from '../support/harness';
import { captureLogs, type CapturedLogs } from '../support/capture-logs';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { invokeAll, startFunctions, type Functions } from '../kit/platform';
import { CLUSTER_ARN, fargateEvent } from '../kit/events';

let aws: LocalAws;
let client: Etcd3;
let env: Record<string, string>;
let functions: Functions;
let logs: CapturedLogs;

beforeAll(async () => {
  env = testEnv();
  ({ aws, functions } = await startFunctions(env));
  client = new Etcd3({ hosts: inject('etcdEndpoint') });
  logs = captureLogs();
});
afterAll(async () => {
  vi.restoreAllMocks();
  client?.close();
  await aws?.stop();
});

const tick = () => functions.renew(scheduledEvent, lambdaContext('renew', 55_000));
const endpointKeys = async () => (await client.getAll().prefix(`${env.REGISTRY_PREFIX}/`).keys()).sort();
const ttl = async (lease: string) => Number((await client.leaseClient.leaseTimeToLive({ ID: lease })).TTL);
const recordLeases = async () =>
  Object.values(await client.getAll().prefix(`${env.STATE_PREFIX}/tasks/`).json()).map(
    (r) => (r as { leaseId: string }).leaseId,
  );
const warnings = (message: string) =>
  logs.lines().filter((l) => l.level === 'WARN' && typeof l.message === 'string' && l.message.includes(message));
const idOf = (event: Record<string, any>) => (event.detail.taskArn as string).split('/').pop()!;
const THROTTLED = /^ecs: DescribeTasks in .* failed: ThrottlingException: injected ThrottlingException$/;

describe('ECS throttled during renew', () => {
  it('fails open tick after tick: leases renewed, nothing removed, a warning and counts; then catches up', async () => {
    const events = [0, 1, 2, 3, 4].map((n) => fargateEvent(n, { salt: 'ecs' }));
    for (const e of events) aws.putTaskFromDetail(e.detail);
    expect(
      await invokeAll(
        functions,
        events.map((event) => ({ handler: 'register', event })),
        { concurrency: 5 },
      ),
    ).toEqual([]);
    const registered = await endpointKeys();
    expect(registered).toHaveLength(5);

    // The world changes while ECS cannot be asked: one task stops, one is gone.
    aws.updateTask(events[0]!.detail.taskArn, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' });
    aws.tasks.delete(events[1]!.detail.taskArn);
    aws.faults.set('DescribeTasks', { code: 'ThrottlingException' });
    aws.faults.set('ListTasks', { code: 'ThrottlingException' });
    const leases = await recordLeases();

    const TICKS = 3;
    for (let i = 0; i < TICKS; i++) {
      await new Promise((r) => setTimeout(r, 2100)); // let the leases' TTL run down, so a renewal shows
      const calls = aws.count('DescribeTasks');
      const tickStarted = Date.now();
      const summary = await tick();
      const tickSeconds = Math.ceil((Date.now() - tickStarted) / 1000);
      expect(summary).toMatchObject({ records: 5, failOpen: 5, renewed: 0, removed: 0, withdrawn: 0, failed: 0 });
      expect(summary.ecsFailures).toEqual([{ cluster: CLUSTER_ARN, error: expect.stringMatching(THROTTLED) }]);
      // Failing open is not running out of time: nothing is reported left for the next tick.
      expect(summary.verification?.left).toEqual({ tasks: 0, clusters: 0 });
      expect(aws.count('DescribeTasks') - calls).toBe(6); // the SDK's 2 attempts (AWS_MAX_ATTEMPTS=2), then 2 backoff rounds of the reader, then it gave up
      // Renewed at the start of the tick (the throttled reads then back off for a few seconds);
      // a lease not renewed would also have lost the 2.1 s waited before the tick.
      for (const lease of leases)
        expect(await ttl(lease)).toBeGreaterThanOrEqual(DEFAULT_LEASE_TTL_SECONDS - 1 - tickSeconds);
      expect(await endpointKeys()).toEqual(registered); // the stopped and the gone task stay routable
    }
    const failOpen = warnings('renewing its leases without removing anything (fail open)');
    expect(failOpen).toHaveLength(TICKS);
    expect(failOpen[0]).toMatchObject({
      function: 'renew',
      cluster: CLUSTER_ARN,
      error: expect.stringMatching(THROTTLED),
    });
    const tickWarnings = warnings('renew tick had failures');
    expect(tickWarnings).toHaveLength(TICKS);
    expect(tickWarnings[0]).toMatchObject({ summary: { failOpen: 5, ecsFailures: [{ cluster: CLUSTER_ARN }] } });

    aws.faults.clear();
    // The stopped task goes at once; the gone one (MISSING, not listed) is marked, and removed on the next tick.
    expect(await tick()).toMatchObject({
      records: 5,
      renewed: 3,
      removed: 1,
      missing: 1,
      failOpen: 0,
      failed: 0,
      ecsFailures: [],
    });
    expect(await tick()).toMatchObject({ records: 4, renewed: 3, removed: 1, failOpen: 0, failed: 0, ecsFailures: [] });
    const gone = [events[0]!, events[1]!].map(idOf);
    expect(await endpointKeys()).toEqual(registered.filter((k) => !gone.some((id) => k.includes(id))));
  });

  it('repairs nothing while ListTasks is throttled, and repairs on the first tick it answers', async () => {
    const lost = fargateEvent(10, { salt: 'ecs' }); // running, but its event was lost
    aws.putTaskFromDetail(lost.detail);
    aws.faults.set('ListTasks', { code: 'ThrottlingException' });
    const before = await endpointKeys();
    const summary = await tick();
    expect(summary).toMatchObject({
      repaired: 0,
      failed: 0,
      ecsFailures: [{ cluster: CLUSTER_ARN, error: expect.stringMatching(/ListTasks .* failed: ThrottlingException/) }],
    });
    expect(warnings('nothing repaired there this tick')).toHaveLength(1);
    expect(await endpointKeys()).toEqual(before);

    aws.faults.clear();
    expect(await tick()).toMatchObject({ repaired: 1, failed: 0, ecsFailures: [] });
    expect((await endpointKeys()).filter((k) => !before.includes(k))).toEqual([expect.stringContaining(idOf(lost))]);
  });
});
