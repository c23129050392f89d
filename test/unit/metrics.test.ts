import { describe, expect, it } from 'vitest';
import { DependencyError, InvalidEventError } from '../../lib/errors';
import { deregisterMetrics, failureMetrics, registerMetrics, renewMetrics } from '../../lib/metrics';
import type { RenewSummary } from '../../lib/renew/summary';

const summary = (changes: Partial<RenewSummary> = {}): RenewSummary => ({
  dryRun: false,
  records: 9,
  renewed: 4,
  registered: 1,
  repaired: 2,
  restored: 1,
  removed: 1,
  missing: 1,
  withdrawn: 1,
  clustersRemoved: 1,
  failOpen: 3,
  ambiguous: 2,
  failed: 1,
  failures: [{ taskArn: 't', error: 'e' }],
  ecsFailures: [{ cluster: 'c', error: 'e' }],
  planned: [],
  applied: [],
  durationsMs: { records: 1, keys: 1, keepAlive: 1, describe: 1, changes: 0, reconcile: 1, total: 4 },
  ...changes,
});

describe('metrics', () => {
  it.each([
    ['registered', { Registered: 1 }],
    ['pending', { HeldBackPending: 1 }],
    ['withdrawn', { Withdrawn: 1 }],
    ['ignored', { IgnoredStale: 1 }],
    ['empty', {}],
  ] as const)('register %s → %j', (action, counts) => expect(registerMetrics({ action })).toEqual(counts));

  it('counts a registration whose port was guessed', () => {
    const ambiguities = [
      { service: 'api', chosen: 'app:50051', candidates: ['app:50051', 'app:9090'], fix: 'mark it' },
    ];
    expect(registerMetrics({ action: 'registered', ambiguities })).toEqual({ Registered: 1, AmbiguousPorts: 1 });
    expect(registerMetrics({ action: 'registered', ambiguities, dryRun: true })).toEqual({});
  });

  it('counts a deregistration only when keys were removed', () => {
    expect(deregisterMetrics({ action: 'removed' })).toEqual({ Deregistered: 1 });
    expect(deregisterMetrics({ action: 'unchanged' })).toEqual({});
  });

  it('maps a renew tick to its counts', () =>
    expect(renewMetrics(summary())).toEqual({
      Renewed: 4,
      Registered: 1,
      RepairedByReconcile: 2,
      Deregistered: 1,
      Withdrawn: 1,
      FailOpenRenewed: 3,
      EcsFailures: 1,
      RenewTaskFailures: 1,
      KeysRestored: 1,
      MissingMarked: 1,
      ClustersRemoved: 1,
      AmbiguousPorts: 2,
    }));

  it('emits nothing for a dry run', () => expect(renewMetrics(summary({ dryRun: true }))).toEqual({}));

  it('counts a failure of ECS or EC2, not of etcd or of the event', () => {
    expect(failureMetrics(new DependencyError('ecs', 'DescribeTasks failed'))).toEqual({ EcsFailures: 1 });
    expect(failureMetrics(new DependencyError('ec2', 'DescribeInstances failed'))).toEqual({ EcsFailures: 1 });
    expect(failureMetrics(new DependencyError('etcd', 'txn failed'))).toEqual({});
    expect(failureMetrics(new InvalidEventError('bad'))).toEqual({});
  });
});
