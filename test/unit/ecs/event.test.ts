import { describe, expect, it } from 'vitest';
import { describedFromDetail } from '../../kit/local-aws';
import { parseTaskStateChange, snapshotFromDescribedTask } from '../../../lib/ecs/event';
import { TaskPhase, taskPhase } from '../../../lib/ecs/task';
import { InvalidEventError } from '../../../lib/errors';
import { loadEvent, withDetail } from '../../kit/events';

const fargate = loadEvent('fargate-awsvpc-running-ecs-devguide');

function rejection(event: unknown): InvalidEventError {
  try {
    parseTaskStateChange(event);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEventError);
    return err as InvalidEventError;
  }
  throw new Error('expected the event to be rejected');
}

describe('parseTaskStateChange', () => {
  it('reads the Fargate sample: ids, cluster, version, ENI address', () => {
    const { id, task } = parseTaskStateChange(fargate);
    expect(id).toBe('3317b2af-7005-947d-b652-f55e762e571a');
    expect(task).toMatchObject({
      taskId: 'c13b4cb40f1f4fe4a2971f76ae5a47ad',
      clusterName: 'FargateCluster',
      region: 'us-west-2',
      version: 4,
      lastStatus: 'RUNNING',
      desiredStatus: 'RUNNING',
      eniIpv4: '10.0.0.139',
      group: 'family:sample-fargate',
      launchType: 'FARGATE',
    });
    expect(task.containers[0]).toMatchObject({ name: 'FargateApp', privateIpv4: '10.0.0.139' });
  });

  it('reads when the event was emitted, and nothing when the envelope has no time', () => {
    expect(parseTaskStateChange(fargate).emittedAt).toBe(Date.parse('2020-01-23T17:57:58Z'));
    const { time: _, ...untimed } = fargate;
    expect(parseTaskStateChange(untimed).emittedAt).toBeUndefined();
  });

  it.each([
    'ec2-running-service-task-ecs-devguide-2019',
    'ec2-running-with-overrides-stratusgrid',
    'fargate-stopped-essential-container-exited-fivexl',
  ])('accepts the real sample %s', (name) => {
    expect(parseTaskStateChange(loadEvent(name)).task.taskArn).toMatch(/^arn:aws:ecs:/);
  });

  it('reads old-format task ARNs (no cluster segment)', () => {
    expect(parseTaskStateChange(loadEvent('ec2-running-with-overrides-stratusgrid')).task).toMatchObject({
      taskId: '3102878e-4af2-4b3c-b9c1-2556b95b2bbf',
      clusterName: 'cluster1',
    });
  });

  it.each([
    ['a string', '"hello"', undefined],
    ['null', null, undefined],
    ['an array', [fargate], undefined],
    ['another source', { ...fargate, source: 'aws.ec2' }, 'source'],
    ['another detail type', { ...fargate, 'detail-type': 'ECS Container Instance State Change' }, 'detail-type'],
    ['no detail', { ...fargate, detail: undefined }, 'detail'],
    ['no taskArn', withDetail(fargate, { taskArn: undefined }), 'detail.taskArn'],
    ['a version that is a string', withDetail(fargate, { version: '4' }), 'detail.version'],
    ['a negative version', withDetail(fargate, { version: -1 }), 'detail.version'],
    ['a fractional version', withDetail(fargate, { version: 1.5 }), 'detail.version'],
    ['a lower-case status', withDetail(fargate, { lastStatus: 'running' }), 'detail.lastStatus'],
    [
      'a taskArn with a path',
      withDetail(fargate, { taskArn: 'arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/../x' }),
      'detail.taskArn',
    ],
    [
      'a task of another cluster',
      withDetail(fargate, {
        taskArn: 'arn:aws:ecs:us-west-2:111122223333:task/Other/c13b4cb40f1f4fe4a2971f76ae5a47ad',
      }),
      'detail.taskArn',
    ],
    [
      'a task of another account',
      withDetail(fargate, {
        taskArn: 'arn:aws:ecs:us-west-2:999999999999:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad',
      }),
      'detail.taskArn',
    ],
    [
      'an ENI address that is not an IP',
      withDetail(fargate, {
        attachments: [{ type: 'eni', details: [{ name: 'privateIPv4Address', value: '10.0.0.999' }] }],
      }),
      'detail.attachments.privateIPv4Address',
    ],
    [
      'a loopback ENI address',
      withDetail(fargate, {
        attachments: [{ type: 'eni', details: [{ name: 'privateIPv4Address', value: '127.0.0.1' }] }],
      }),
      'detail.attachments.privateIPv4Address',
    ],
    [
      'the instance metadata address on a container',
      withDetail(fargate, {
        attachments: [],
        containers: [{ name: 'a', networkInterfaces: [{ privateIpv4Address: '169.254.169.254' }] }],
      }),
      'detail.containers.0.networkInterfaces.privateIpv4Address',
    ],
    [
      '10,000 containers',
      withDetail(fargate, { containers: Array.from({ length: 10000 }, (_, i) => ({ name: `c${i}` })) }),
      'detail.containers',
    ],
    [
      'a port of 70000',
      withDetail(fargate, { containers: [{ name: 'a', networkBindings: [{ hostPort: 70000 }] }] }),
      'detail.containers.0.networkBindings.0.hostPort',
    ],
    [
      'a port "abc"',
      withDetail(fargate, { containers: [{ name: 'a', networkBindings: [{ hostPort: 'abc' }] }] }),
      'detail.containers.0.networkBindings.0.hostPort',
    ],
    [
      'a container name with a slash',
      withDetail(fargate, { containers: [{ name: 'a/b' }] }),
      'detail.containers.0.name',
    ],
    ['a time that is not ISO-8601', { ...fargate, time: 'yesterday' }, 'time'],
    ['a time that is no date', { ...fargate, time: '2026-13-45T99:99:99Z' }, 'time'],
    [
      'a containerPortRange "all"',
      withDetail(fargate, { containers: [{ name: 'a', networkBindings: [{ containerPortRange: 'all' }] }] }),
      'detail.containers.0.networkBindings.0.containerPortRange',
    ],
    [
      'a hostPortRange of numbers',
      withDetail(fargate, {
        containers: [{ name: 'a', networkBindings: [{ containerPortRange: '1-2', hostPortRange: 3 }] }],
      }),
      'detail.containers.0.networkBindings.0.hostPortRange',
    ],
  ])('rejects %s with a message naming where', (_what, event, path) => {
    const err = rejection(event);
    expect(err.retryable).toBe(false);
    if (path) expect(err.path).toBe(path);
    expect(err.message).toMatch(/^invalid event/);
  });
});

describe('snapshotFromDescribedTask', () => {
  it('reads a DescribeTasks answer the same as the event it came from', () => {
    const described = describedFromDetail(fargate.detail);
    const asSdk = { ...described, startedAt: new Date((described.startedAt as number) * 1000) };
    const fromApi = snapshotFromDescribedTask(asSdk as never);
    const fromEvent = parseTaskStateChange(fargate).task;
    expect(fromApi).toEqual({ ...fromEvent, startedAt: new Date(fromEvent.startedAt!).toISOString() });
  });
});

describe('port-range bindings', () => {
  const ranged = loadEvent('ec2-bridge-running-port-range');

  it('accepts range bindings (no containerPort) from an event and keeps them for planning', () => {
    const relay = parseTaskStateChange(ranged).task.containers.find((c) => c.name === 'relay')!;
    expect(relay.networkBindings).toContainEqual({
      bindIP: '0.0.0.0',
      containerPortRange: '41100-41104',
      hostPortRange: '49300-49304',
      protocol: 'tcp',
    });
  });

  it('accepts the same bindings in a DescribeTasks answer', () => {
    const described = describedFromDetail(ranged.detail);
    const fromApi = snapshotFromDescribedTask({
      ...described,
      startedAt: new Date((described.startedAt as number) * 1000),
    } as never);
    expect(fromApi.containers.map((c) => c.networkBindings)).toEqual(
      parseTaskStateChange(ranged).task.containers.map((c) => c.networkBindings),
    );
  });
});

describe('taskPhase', () => {
  it.each([
    ['RUNNING', 'RUNNING', TaskPhase.Started],
    ['RUNNING', 'STOPPED', TaskPhase.Stopping],
    ['PENDING', 'STOPPED', TaskPhase.Stopping],
    ['STOPPED', 'STOPPED', TaskPhase.Stopping],
    ['DEPROVISIONING', 'STOPPED', TaskPhase.Stopping],
    ['PENDING', 'RUNNING', TaskPhase.Starting],
    ['PROVISIONING', 'RUNNING', TaskPhase.Starting],
  ])('lastStatus %s, desiredStatus %s → %s', (lastStatus, desiredStatus, phase) =>
    expect(taskPhase({ lastStatus, desiredStatus })).toBe(phase),
  );
});

describe('IPv6 addresses', () => {
  it('reads the ENI and container IPv6 addresses in canonical form, from an event and from DescribeTasks', () => {
    const event = withDetail(fargate, {
      attachments: [
        { id: 'a', type: 'eni', status: 'ATTACHED', details: [{ name: 'ipv6Address', value: '2600:1F14:0::7' }] },
      ],
      containers: [
        { name: 'FargateApp', lastStatus: 'RUNNING', networkInterfaces: [{ ipv6Address: '2600:1f14::0:7' }] },
      ],
    });
    const { task } = parseTaskStateChange(event);
    expect(task.eniIpv6).toBe('2600:1f14::7');
    expect(task.eniIpv4).toBeUndefined();
    expect(task.containers[0]!.privateIpv6).toBe('2600:1f14::7');
    const described = describedFromDetail(event.detail);
    const asSdk = { ...described, startedAt: new Date((described.startedAt as number) * 1000) };
    expect(snapshotFromDescribedTask(asSdk as never).eniIpv6).toBe('2600:1f14::7');
  });

  it('rejects a bad container IPv6 address, naming the field', () => {
    const event = withDetail(fargate, {
      containers: [{ name: 'FargateApp', lastStatus: 'RUNNING', networkInterfaces: [{ ipv6Address: 'fe80::7' }] }],
    });
    expect(rejection(event).message).toMatch(/containers\.0\.networkInterfaces\.ipv6Address: "fe80::7" .*link-local/);
  });
});
