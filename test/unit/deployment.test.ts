import { describe, expect, it } from 'vitest';
import {
  assertServed,
  clusterNameOfSegment,
  clusterSegment,
  defaultRegistryPrefix,
  defaultStatePrefix,
  foreignReason,
  isLegacySegment,
  ownedBy,
} from '../../lib/deployment';
import { InvalidEventError } from '../../lib/errors';

const eu = { stage: 'prod', region: 'eu-west-1', account: '123456789012' };

describe('a deployment', () => {
  it('derives its state namespace from stage, region and account, its directory from the stage', () => {
    expect(defaultStatePrefix(eu)).toBe('registrar/prod/eu-west-1/123456789012');
    expect(defaultStatePrefix({ stage: 'local' })).toBe('registrar/local/local/local');
    expect(defaultRegistryPrefix(eu, true)).toBe('services/prod');
    expect(defaultRegistryPrefix({ stage: 'local' }, false)).toBe('services');
  });

  it('serves only clusters and tasks of its account and region', () => {
    expect(foreignReason(eu, 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod')).toBeUndefined();
    expect(foreignReason(eu, 'arn:aws:ecs:eu-west-1:123456789012:task/prod/abc')).toBeUndefined();
    expect(foreignReason(eu, 'arn:aws:ecs:us-east-1:123456789012:cluster/prod')).toMatch(
      /^arn:aws:ecs:us-east-1:123456789012:cluster\/prod is of account 123456789012, region us-east-1; this deployment serves account 123456789012, region eu-west-1/,
    );
    expect(foreignReason(eu, 'arn:aws:ecs:eu-west-1:210987654321:cluster/prod')).toContain('account 210987654321');
    expect(foreignReason(eu, 'prod')).toContain('not an ECS cluster or task ARN');
    // A local run without an account serves any.
    expect(foreignReason({ stage: 'local', region: 'eu-west-1' }, 'arn:aws:ecs:us-east-1:1:cluster/x')).toContain(
      'not an ECS',
    );
    expect(
      foreignReason({ stage: 'local', region: 'eu-west-1' }, 'arn:aws:ecs:us-east-1:123456789012:cluster/x'),
    ).toBeUndefined();
    expect(() => assertServed(eu, 'arn:aws:ecs:us-east-1:123456789012:cluster/prod')).toThrow(InvalidEventError);
  });

  it('spells a cluster in a key by account, region and name, telling the older bare names apart', () => {
    expect(clusterSegment('arn:aws:ecs:eu-west-1:123456789012:cluster/prod')).toBe('123456789012.eu-west-1.prod');
    expect(clusterSegment('arn:aws:ecs:us-east-1:123456789012:cluster/prod')).toBe('123456789012.us-east-1.prod');
    expect(clusterNameOfSegment('123456789012.eu-west-1.my_cluster-2')).toBe('my_cluster-2');
    expect(clusterNameOfSegment('prod')).toBe('prod');
    expect(isLegacySegment('prod')).toBe(true);
    expect(isLegacySegment('123456789012.eu-west-1.prod')).toBe(false);
    expect(() => clusterSegment('prod')).toThrow('not a cluster ARN');
  });

  it('owns a namespace only with the same stage, region and account', () => {
    const owner = { ...eu, claimedAt: '2026-01-01T00:00:00Z' };
    expect(ownedBy(owner, eu)).toBe(true);
    expect(ownedBy(owner, { ...eu, stage: 'dev' })).toBe(false);
    expect(ownedBy(owner, { ...eu, region: 'us-east-1' })).toBe(false);
    expect(ownedBy(owner, { ...eu, account: '210987654321' })).toBe(false);
  });
});
