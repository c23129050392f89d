import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../../lib/errors';
import { FOLLOW_MESSAGE_TYPE, nextMessage, parseFollowMessage } from '../../../lib/follow/message';

const valid = {
  type: FOLLOW_MESSAGE_TYPE,
  taskArn: 'arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad',
  clusterArn: 'arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster',
  taskDefinitionArn: 'arn:aws:ecs:us-west-2:111122223333:task-definition/sample-fargate:1',
  checkEverySeconds: 3,
  giveUpAt: 1795354200000,
  attempt: 1,
};
const body = (changes: Record<string, unknown>) => JSON.stringify({ ...valid, ...changes });

describe('parseFollowMessage', () => {
  it('accepts a follow-up and names the task in the registry', () =>
    expect(parseFollowMessage(JSON.stringify(valid))).toEqual({
      ...valid,
      ref: {
        taskArn: valid.taskArn,
        taskId: 'c13b4cb40f1f4fe4a2971f76ae5a47ad',
        clusterArn: valid.clusterArn,
        clusterName: 'FargateCluster',
      },
    }));

  it.each([
    ['not JSON', '{"type":', 'invalid event at body: follow-up message body is not JSON'],
    ['a JSON array', '[1]', 'invalid event at body: follow-up message body is not a JSON object'],
    [
      'another message type (e.g. an ECS event)',
      body({ type: undefined, source: 'aws.ecs' }),
      `invalid event at body.type: follow-up message: expected "${FOLLOW_MESSAGE_TYPE}"`,
    ],
    [
      'a task ARN that is not one',
      body({ taskArn: 'arn:aws:ecs:us-west-2:111122223333:task/../x' }),
      'invalid event at body.taskArn: expected an ECS task ARN',
    ],
    [
      'a task of another cluster',
      body({ taskArn: valid.taskArn.replace('FargateCluster', 'Other') }),
      'does not belong to cluster',
    ],
    ['a missing cluster', body({ clusterArn: undefined }), 'invalid event at body.clusterArn'],
    [
      'a task definition that is a URL',
      body({ taskDefinitionArn: 'https://example.com/td' }),
      'invalid event at body.taskDefinitionArn: follow-up message: expected an ECS task definition ARN',
    ],
    ['a cadence of 0 s', body({ checkEverySeconds: 0 }), 'invalid event at body.checkEverySeconds'],
    ['a fractional attempt', body({ attempt: 1.5 }), 'invalid event at body.attempt'],
    ['an attempt past the most checks', body({ attempt: 100_000 }), 'invalid event at body.attempt'],
    ['a give-up time as text', body({ giveUpAt: 'tomorrow' }), 'invalid event at body.giveUpAt'],
    [
      'a body over 4 KB',
      body({ padding: 'x'.repeat(5000) }),
      'invalid event at body: follow-up message body is over 4096 bytes',
    ],
  ])('rejects %s with a clear InvalidEventError', (_name, text, message) => {
    expect(() => parseFollowMessage(text)).toThrow(InvalidEventError);
    expect(() => parseFollowMessage(text)).toThrow(message);
  });
});

describe('nextMessage', () => {
  it('counts the attempt and keeps the rest', () =>
    expect(nextMessage({ ...valid, type: FOLLOW_MESSAGE_TYPE })).toEqual({ ...valid, attempt: 2 }));
});
