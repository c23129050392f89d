import { describe, expect, it } from 'vitest';
import { describeEndpointKey } from '../../../../lib/cli/commands/common';
import { arn, value } from '../../../kit/registry-snapshot';

describe('describeEndpointKey', () => {
  it('takes the service from the key, the address and task from the value', () => {
    expect(
      describeEndpointKey('services', {
        key: 'services/api/aaa:8080',
        value: value('10.0.0.1:8080', arn('aaa')),
        lease: '1',
      }),
    ).toEqual({
      service: 'api',
      address: '10.0.0.1:8080',
      taskArn: arn('aaa'),
      taskId: 'aaa',
    });
  });
  it('takes the task id from a task-format key when the value carries none, and none from an address key', () => {
    expect(describeEndpointKey('', { key: 'api/aaa:8080', value: '10.0.0.1:8080', lease: '1' })).toMatchObject({
      service: 'api',
      address: '10.0.0.1:8080',
      taskId: 'aaa',
    });
    expect(
      describeEndpointKey('services', { key: 'services/api/10.0.0.1:8080', value: '10.0.0.1:8080', lease: '1' }).taskId,
    ).toBeUndefined();
  });
});
