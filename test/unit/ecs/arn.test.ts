import { describe, expect, it } from 'vitest';
import { clusterNameOf, isClusterArnOrName, parseClusterArn, parseTaskArn, parseTaskRef } from '../../../lib/ecs/arn';

const arn = (id: string) => `arn:aws:ecs:us-west-2:111122223333:task/prod/${id}`;

describe('parseTaskArn', () => {
  it('reads region, account, cluster and task ID from a task ARN of the current format', () => {
    expect(parseTaskArn('arn:aws:ecs:eu-west-1:123456789012:task/prod/0123abcd')).toEqual({
      region: 'eu-west-1',
      account: '123456789012',
      clusterName: 'prod',
      taskId: '0123abcd',
    });
  });

  it('reads a task ARN of the older format, which names no cluster', () => {
    expect(parseTaskArn('arn:aws-cn:ecs:cn-north-1:123456789012:task/0123abcd')).toEqual({
      region: 'cn-north-1',
      account: '123456789012',
      clusterName: undefined,
      taskId: '0123abcd',
    });
  });

  it('rejects a cluster ARN, a short account and a path in the task ID', () => {
    expect(parseTaskArn('arn:aws:ecs:eu-west-1:123456789012:cluster/prod')).toBeUndefined();
    expect(parseTaskArn('arn:aws:ecs:eu-west-1:1234:task/prod/0123abcd')).toBeUndefined();
    expect(parseTaskArn('arn:aws:ecs:eu-west-1:123456789012:task/prod/x/0123abcd')).toBeUndefined();
  });
});

describe('parseClusterArn', () => {
  it('reads region, account and name from a cluster ARN in any partition', () => {
    expect(parseClusterArn('arn:aws-us-gov:ecs:us-gov-west-1:123456789012:cluster/batch_1')).toEqual({
      region: 'us-gov-west-1',
      account: '123456789012',
      clusterName: 'batch_1',
    });
  });

  it('rejects a bare name and a name with a slash', () => {
    expect(parseClusterArn('batch')).toBeUndefined();
    expect(parseClusterArn('arn:aws:ecs:eu-west-1:123456789012:cluster/a/b')).toBeUndefined();
  });
});

describe('isClusterArnOrName', () => {
  it('accepts a cluster name and a cluster ARN, and nothing else', () => {
    expect(isClusterArnOrName('prod')).toBe(true);
    expect(isClusterArnOrName('arn:aws:ecs:us-east-1:123456789012:cluster/batch')).toBe(true);
    expect(isClusterArnOrName('bad cluster')).toBe(false);
    expect(isClusterArnOrName('arn:aws:ecs:us-east-1:123456789012:task/batch/0123abcd')).toBe(false);
  });
});

describe('clusterNameOf', () => {
  it('names the cluster of a cluster ARN and returns a name unchanged', () => {
    expect(clusterNameOf('arn:aws:ecs:us-east-1:123456789012:cluster/batch')).toBe('batch');
    expect(clusterNameOf('batch')).toBe('batch');
  });
});

describe('parseTaskRef', () => {
  it('reads cluster and id from a task ARN, the id alone from a bare id or an old-style ARN', () => {
    expect(parseTaskRef(arn('abc'))).toEqual({ clusterName: 'prod', taskId: 'abc' });
    expect(parseTaskRef('arn:aws:ecs:us-east-1:111122223333:task/abc')).toEqual({
      clusterName: undefined,
      taskId: 'abc',
    });
    expect(parseTaskRef(' abc ')).toEqual({ taskId: 'abc' });
  });
});
