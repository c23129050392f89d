import { describe, expect, it } from 'vitest';
import { leaseIdFor, taskLeaseName } from '../../../lib/etcd/leases';
import { isOrphan, orphanCandidates } from '../../../lib/etcd/orphans';

const ARN = 'arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad';
const own = (v: number) => leaseIdFor(taskLeaseName({ taskArn: ARN, version: v }), 'registrar');

describe('orphanCandidates', () => {
  it("keeps this deployment's tagged leases that nothing refers to", () => {
    const other = leaseIdFor(taskLeaseName({ taskArn: ARN, version: 1 }), 'registrar-dev');
    expect(orphanCandidates([own(1), own(2), own(3), other], 'registrar', new Set([own(2)]))).toEqual([own(1), own(3)]);
  });
});

describe('isOrphan', () => {
  const ttls = [210, 86400];
  it('is an orphan: alive, no key, one of our TTLs, not renewed for longer than the grace', () => {
    expect(isOrphan({ ttl: 150, grantedTtl: 210, keys: 0 }, ttls, 30)).toBe(true);
    expect(isOrphan({ ttl: 86000, grantedTtl: 86400, keys: 0 }, ttls, 30)).toBe(true);
  });
  it('is not: keys on it, granted a moment ago, another TTL, or expired', () => {
    expect(isOrphan({ ttl: 150, grantedTtl: 210, keys: 1 }, ttls, 30)).toBe(false);
    expect(isOrphan({ ttl: 180, grantedTtl: 210, keys: 0 }, ttls, 30)).toBe(false);
    expect(isOrphan({ ttl: 10, grantedTtl: 60, keys: 0 }, ttls, 30)).toBe(false);
    expect(isOrphan({ ttl: 0, grantedTtl: 210, keys: 0 }, ttls, 30)).toBe(false);
  });
});
