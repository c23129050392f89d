import { describe, expect, it } from 'vitest';
import { leaseIdFor, taskLeaseName, tombstoneLeaseName } from '../../../lib/etcd/registry';

const ARN = 'arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad';

describe('leaseIdFor', () => {
  it('gives every grant for the same purpose the same ID, so a lost grant is found again', () => {
    expect(leaseIdFor(taskLeaseName({ taskArn: ARN, version: 4 }))).toBe(
      leaseIdFor(taskLeaseName({ taskArn: ARN, version: 4 })),
    );
  });

  it('gives another version, task or purpose another ID', () => {
    const ids = new Set([
      leaseIdFor(taskLeaseName({ taskArn: ARN, version: 4 })),
      leaseIdFor(taskLeaseName({ taskArn: ARN, version: 5 })),
      leaseIdFor(taskLeaseName({ taskArn: `${ARN.slice(0, -1)}e`, version: 4 })),
      leaseIdFor(tombstoneLeaseName(ARN)),
    ]);
    expect(ids.size).toBe(4);
  });

  it('is a positive 63-bit decimal, as etcd takes lease IDs (0 would ask etcd to choose)', () => {
    for (let v = 0; v < 2000; v++) {
      const id = leaseIdFor(taskLeaseName({ taskArn: ARN, version: v }));
      expect(id).toMatch(/^[1-9]\d{0,18}$/);
      expect(BigInt(id) < 2n ** 63n).toBe(true);
    }
  });
});
