/**
 * AwsEcsReader through the real AWS SDK against the local ECS/EC2 endpoint: every request takes a
 * slot of the read budget (retries included), throttling is answered with backoff rather than
 * failure while the deadline allows, and host lookups are batched 100 to a call.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsEcsReader } from '../../../lib/ecs/api';
import { ReadBudget, type Clock } from '../../../lib/ecs/budget';
import { DeadlineError, DependencyError } from '../../../lib/errors';
import { LocalAws } from '../../kit/local-aws';
import { loadEc2 } from '../../../lib/ecs/ec2-loader';

let aws: LocalAws;
beforeAll(async () => {
  aws = await new LocalAws().start();
  Object.assign(process.env, aws.sdkEnv());
});
afterAll(() => aws?.stop());
beforeEach(() => {
  aws.calls.clear();
  aws.throttled.clear();
  aws.faults.clear();
  aws.throttle(undefined);
});

const ecsClient = (maxAttempts: number) =>
  new ECSClient({
    region: 'us-east-1',
    endpoint: aws.endpoint,
    maxAttempts,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

/** A clock frozen at 0 whose sleeps return at once, recording when each read was scheduled to start. */
function recordingClock(): Clock & { starts: number[] } {
  const starts: number[] = [];
  return { starts, now: () => 0, sleep: async (ms) => void starts.push(ms) };
}

describe('AwsEcsReader read budget', () => {
  it('makes every request, SDK retries included, take a budget slot in turn', async () => {
    const clock = recordingClock();
    const budget = new ReadBudget({ readsPerSecond: 2, clock });
    aws.faults.set('ListTasks', { code: 'ServerException', status: 500, times: 1 });
    const reader = new AwsEcsReader(ecsClient(3), { budget });
    for (let i = 0; i < 4; i++) await reader.listRunningTasks('c');
    // Five requests (one retried by the SDK): two at once, then one every 500 ms.
    expect(aws.count('ListTasks')).toBe(5);
    expect(budget.taken).toBe(5);
    expect(clock.starts).toEqual([500, 1000, 1500]);
  });

  it('answers throttling with backoff, not failure, and counts it', async () => {
    aws.throttle({ capacity: 2, refillPerSecond: 10 });
    const reader = new AwsEcsReader(ecsClient(1), { random: () => 0 });
    const results = await Promise.all(
      Array.from({ length: 6 }, () => reader.describeTasks('c', ['arn:aws:ecs:us-east-1:123456789012:task/c/1'])),
    );
    expect(results.every((r) => r.missing.length === 1)).toBe(true);
    expect(aws.throttledCount()).toBeGreaterThan(0);
    expect(reader.calls.throttled).toBe(aws.throttledCount());
  });

  it('pauses the whole budget after a throttling answer', async () => {
    const clock = recordingClock();
    const budget = new ReadBudget({ readsPerSecond: 100, clock });
    aws.faults.set('ListTasks', { code: 'ThrottlingException', times: 1 });
    const reader = new AwsEcsReader(ecsClient(1), { budget, random: () => 0 });
    await reader.listRunningTasks('c');
    // The first request went at once; the retry waited out the pause though the burst was unused.
    expect(aws.count('ListTasks')).toBe(2);
    expect(clock.starts).toEqual([1000]);
  });

  it('gives up on throttling when the backoff would pass the deadline', async () => {
    aws.faults.set('ListTasks', { code: 'ThrottlingException' });
    const reader = new AwsEcsReader(ecsClient(1), { deadline: () => Date.now() + 100 });
    const err = await reader.listRunningTasks('c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect((err as Error).message).toMatch(/ListTasks in c failed: ThrottlingException/);
    expect(aws.count('ListTasks')).toBe(1);
  });

  it("stops listing between pages at the caller's stop time, with an out-of-time error", async () => {
    for (let k = 0; k < 250; k++)
      aws.putTaskFromDetail({
        taskArn: `arn:aws:ecs:us-east-1:123456789012:task/big/${k.toString(16).padStart(32, '0')}`,
        clusterArn: 'arn:aws:ecs:us-east-1:123456789012:cluster/big',
        desiredStatus: 'RUNNING',
        lastStatus: 'RUNNING',
      });
    const clock = { now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };
    // Two pages a second: the third of three pages would start after the stop time.
    const budget = new ReadBudget({ readsPerSecond: 2, clock });
    const reader = new AwsEcsReader(ecsClient(1), { budget });
    expect(await reader.listRunningTasks('big')).toHaveLength(250);
    const calls = aws.count('ListTasks');
    const err = await reader.listRunningTasks('big', { until: Date.now() + 700 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect((err as Error).cause).toBeInstanceOf(DeadlineError);
    expect((err as Error).message).toMatch(/ListTasks in big stopped after \d+ tasks: out of time/);
    expect(aws.count('ListTasks') - calls).toBeLessThan(3);
    for (let k = 0; k < 250; k++)
      aws.tasks.delete(`arn:aws:ecs:us-east-1:123456789012:task/big/${k.toString(16).padStart(32, '0')}`);
  });

  it('starts no request when the budget has no slot before the deadline', async () => {
    const budget = new ReadBudget({ readsPerSecond: 1 });
    await budget.take();
    const reader = new AwsEcsReader(ecsClient(1), { budget, deadline: () => Date.now() + 100 });
    const err = await reader.listRunningTasks('c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect((err as Error).cause).toBeInstanceOf(DeadlineError);
    expect(aws.count('ListTasks')).toBe(0);
  });
});

describe('AwsEcsReader host lookups', () => {
  const arn = (cluster: string, k: number) =>
    `arn:aws:ecs:us-east-1:123456789012:container-instance/${cluster}/${k.toString(16).padStart(32, '0')}`;

  it('looks up the hosts asked for in one turn 100 per call, per cluster, and caches them', async () => {
    for (let k = 0; k < 250; k++) aws.putContainerInstance(arn('a', k), `i-a${k}`, `10.1.${k >> 8}.${k & 255}`);
    for (let k = 0; k < 3; k++) aws.putContainerInstance(arn('b', k), `i-b${k}`, `10.2.0.${k}`);
    const reader = new AwsEcsReader(ecsClient(1), { ec2: loadEc2 });
    const asked = [
      ...Array.from({ length: 250 }, (_, k) => ['a', arn('a', k)] as const),
      ...Array.from({ length: 3 }, (_, k) => ['b', arn('b', k)] as const),
    ];
    const ips = await Promise.all(asked.map(([cluster, a]) => reader.hostIp(cluster, a)));
    expect(ips[0]).toBe('10.1.0.0');
    expect(ips[249]).toBe('10.1.0.249');
    expect(ips[252]).toBe('10.2.0.2');
    expect([aws.count('DescribeContainerInstances'), aws.count('DescribeInstances')]).toEqual([4, 4]);
    expect([reader.calls.describeContainerInstances, reader.calls.describeInstances]).toEqual([4, 4]);
    await reader.hostIp('a', arn('a', 7));
    expect(aws.count('DescribeContainerInstances')).toBe(4);
  });

  it('fails only the lookup ECS does not know, not the rest of its batch', async () => {
    aws.putContainerInstance(arn('c', 1), 'i-c1', '10.3.0.1');
    const reader = new AwsEcsReader(ecsClient(1), { ec2: loadEc2 });
    const [known, unknown] = await Promise.allSettled([
      reader.hostIp('c', arn('c', 1)),
      reader.hostIp('c', arn('c', 2)),
    ]);
    expect(known).toEqual({ status: 'fulfilled', value: '10.3.0.1' });
    expect(unknown.status).toBe('rejected');
    expect(((unknown as PromiseRejectedResult).reason as Error).message).toMatch(/has no EC2 instance id/);
    expect(aws.count('DescribeContainerInstances')).toBe(1);
  });
});
