/**
 * The local ECS/EC2 endpoint throttles like ECS when asked: a token bucket per action, answered
 * through the real AWS SDK as the ThrottlingException (EC2: RequestLimitExceeded) it would get
 * from AWS, and counted.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalAws } from '../../kit/local-aws';

let aws: LocalAws | undefined;
afterEach(async () => {
  await aws?.stop();
  aws = undefined;
});

/** Clients that make exactly one attempt, so every throttled call surfaces. */
function clients(endpoint: string) {
  const common = {
    region: 'us-east-1',
    endpoint,
    maxAttempts: 1,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  return { ecs: new ECSClient(common), ec2: new EC2Client(common) };
}

const errorName = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err: Error) => err.name,
  );

describe('LocalAws throttling', () => {
  it('answers ThrottlingException once an action has used its capacity, and counts it', async () => {
    aws = (await new LocalAws().start()).throttle({ capacity: 3, refillPerSecond: 0.01 });
    const { ecs } = clients(aws.endpoint);
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await errorName(ecs.send(new ListTasksCommand({ cluster: 'c' }))));
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ThrottlingException', 'ThrottlingException']);
    expect(aws.throttled.get('ListTasks')).toBe(2);
    expect(aws.count('ListTasks')).toBe(5);
  });

  it('keeps one bucket per action and refills it over time', async () => {
    // 2/s: a token comes back after 500 ms, so two calls in a row meet an empty bucket even on a
    // loaded machine (at 20/s a 50 ms pause between them refilled it).
    aws = (await new LocalAws().start()).throttle({ capacity: 1, refillPerSecond: 2 });
    const { ecs, ec2 } = clients(aws.endpoint);
    expect(await errorName(ecs.send(new ListTasksCommand({ cluster: 'c' })))).toBe('ok');
    expect(await errorName(ecs.send(new ListTasksCommand({ cluster: 'c' })))).toBe('ThrottlingException');
    // Another action has a bucket of its own; EC2 answers with its own throttling code.
    expect(await errorName(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-1'] })))).toBe('ok');
    expect(await errorName(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-1'] })))).toBe(
      'RequestLimitExceeded',
    );
    await new Promise((r) => setTimeout(r, 600)); // 2/s: a token back after 500 ms
    expect(await errorName(ecs.send(new ListTasksCommand({ cluster: 'c' })))).toBe('ok');
    expect(aws.throttledCount()).toBe(2);
  });

  it('throttles only the actions named, and not at all once turned off', async () => {
    aws = (await new LocalAws().start()).throttle({ capacity: 1, refillPerSecond: 0.01, actions: ['DescribeTasks'] });
    const { ecs } = clients(aws.endpoint);
    for (let i = 0; i < 3; i++) expect(await errorName(ecs.send(new ListTasksCommand({ cluster: 'c' })))).toBe('ok');
    const describe = () => errorName(ecs.send(new DescribeTasksCommand({ cluster: 'c', tasks: ['t'] })));
    expect([await describe(), await describe()]).toEqual(['ok', 'ThrottlingException']);
    aws.throttle(undefined);
    expect([await describe(), await describe()]).toEqual(['ok', 'ok']);
    expect(aws.throttledCount()).toBe(1);
  });
});
