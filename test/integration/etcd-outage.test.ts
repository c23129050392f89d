/**
 * etcd fully down, through the real handlers: etcd is killed in the middle of a burst of register
 * and deregister events. While it is down every handler fails within its deadline with a clear
 * etcd error; when it is back, etcd holds nothing half-done, and redelivering the failed events
 * plus one renew tick bring it to the truth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DependencyError } from '../../lib/errors';
import { setInvocationDeadline } from '../../lib/etcd/client';
import { Registry } from '../../lib/etcd/registry';
import { checkRegistry, etcdSnapshot, CONSISTENT } from '../support/etcd';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { invokeAll, redeliver, startIsolated, type Failure, type Invocation, type Isolated } from '../kit/platform';
import { divergence } from '../kit/simulation';
import { fargateEvent, transition } from '../kit/events';

let rig: Isolated;
beforeAll(async () => {
  rig = await startIsolated({ ETCD_TIMEOUT_MS: '1000' });
});
afterAll(async () => rig?.stop());

const REMAINING_MS = 3000;
const keyOf = (n: number) => `services/sample-fargate/${fargateEvent(n).detail.taskArn.split('/').pop()}:50051`;
const addrOf = (n: number) => `${fargateEvent(n).detail.attachments[0].details[0].value}:50051`;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('etcd fully down', () => {
  it('fails every handler in time with an etcd error, leaves nothing half-done, and converges after redelivery and one tick', {
    timeout: 60_000,
  }, async () => {
    const { etcd, client, aws, functions } = rig;
    // Before: tasks 0-19 run and are registered.
    for (const n of range(0, 53)) aws.putTaskFromDetail(fargateEvent(n).detail);
    expect(
      await invokeAll(
        functions,
        range(0, 20).map((n) => ({ handler: 'register', event: fargateEvent(n) })),
        { concurrency: 8 },
      ),
    ).toEqual([]);

    // A burst: tasks 0-9 stop, tasks 20-39 start; etcd dies after 8 invocations have settled.
    for (const n of range(0, 10))
      aws.updateTask(fargateEvent(n).detail.taskArn, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', version: 6 });
    const burst: Invocation[] = [
      ...range(0, 10).map((n) => ({
        handler: 'deregister' as const,
        event: transition(fargateEvent(n), 5, 'RUNNING', 'STOPPED'),
      })),
      ...range(20, 40).map((n) => ({ handler: 'register' as const, event: fargateEvent(n) })),
    ].sort((a, b) => a.event.detail.taskArn.localeCompare(b.event.detail.taskArn));
    let settled = 0;
    let killed: Promise<void> | undefined;
    const failures: Failure[] = await invokeAll(functions, burst, {
      concurrency: 4,
      timeoutMs: REMAINING_MS,
      onSettled: () => void (++settled === 8 && (killed = etcd.kill())),
    });
    await killed;
    expect(etcd.running).toBe(false);

    // While etcd is down: each handler fails before its deadline with an etcd error (tasks 40-49 start
    // meanwhile). Tasks 10-11 stop and 50-52 start too, but their events never arrive (dead-lettered).
    for (const n of [10, 11])
      aws.updateTask(fargateEvent(n).detail.taskArn, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', version: 6 });
    const down: Invocation[] = [
      ...range(40, 50).map((n) => ({ handler: 'register' as const, event: fargateEvent(n) })),
    ];
    const outcomes: { name: string; error: unknown; elapsed: number }[] = [];
    for (const invocation of down) {
      const started = Date.now();
      const error = await functions[invocation.handler](
        invocation.event,
        lambdaContext(invocation.handler, REMAINING_MS),
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      outcomes.push({ name: invocation.handler, error, elapsed: Date.now() - started });
      failures.push({ invocation, error });
    }
    for (const [name, call] of [
      [
        'deregister',
        () =>
          functions.deregister(
            transition(fargateEvent(11), 5, 'RUNNING', 'STOPPED'),
            lambdaContext('deregister', REMAINING_MS),
          ),
      ],
      ['renew', () => functions.renew(scheduledEvent, lambdaContext('renew', REMAINING_MS))],
    ] as const) {
      const started = Date.now();
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      outcomes.push({ name, error, elapsed: Date.now() - started });
    }
    for (const { name, error, elapsed } of outcomes) {
      expect(error, name).toBeInstanceOf(DependencyError);
      expect((error as DependencyError).dependency).toBe('etcd');
      expect((error as Error).message).toMatch(
        /^etcd: (lease grant|read task|list task records) failed: etcd is (unavailable|unreachable)/,
      );
      expect(elapsed, name).toBeLessThan(REMAINING_MS);
    }

    // Back: nothing half-done — every record with exactly its keys on its lease, no orphan key.
    await etcd.restart();
    const afterRestart = checkRegistry(await etcdSnapshot(client), 'services', 'registrar');
    expect(afterRestart).toMatchObject({ duplicateRecords: [], brokenRecords: [], orphanKeys: [], sharedLeases: [] });

    // The platform redelivers what failed; then one renew tick.
    const burstFailures = failures.length - down.length;
    const retries = await redeliver(functions, failures, { concurrency: 4 });
    expect(retries.stillFailing.map((f) => String(f.error))).toEqual([]);
    const summary = await functions.renew(scheduledEvent, lambdaContext('renew', 55_000));
    const snapshot = await etcdSnapshot(client);
    const truth = new Map(range(12, 53).map((n) => [keyOf(n), addrOf(n)]));
    const after = divergence(snapshot.kvs, truth, 'services');
    const registry = checkRegistry(snapshot, 'services', 'registrar');

    console.log(
      `etcd outage: killed after 8 of ${burst.length} burst invocations; ${burstFailures} burst + ${down.length} later invocations failed with etcd errors ` +
        `(slowest ${Math.max(...outcomes.map((o) => o.elapsed))} ms of ${REMAINING_MS} ms); after restart: ${afterRestart.brokenRecords.length} half-done records, ${afterRestart.orphanKeys.length} orphan keys; ` +
        `redelivered ${retries.retried} in ${retries.rounds} round(s); tick: removed ${summary.removed}, repaired ${summary.repaired}, failed ${summary.failed}; ` +
        `stale ${after.stale.length}, missing ${after.missing.length}; orphan leases ${registry.orphanLeases.length}`,
    );
    expect(burstFailures).toBeGreaterThan(0);
    expect(summary).toMatchObject({ removed: 2, repaired: 3, failed: 0 });
    expect(after).toEqual({ stale: [], missing: [] });
    // No orphan lease either: leases granted just before etcd died, whose write then failed, are
    // revoked once etcd is back, and a grant etcd applied whose answer never reached the client is
    // adopted by the redelivery or the tick's repair (lease IDs are derived from task and version).
    expect(registry).toMatchObject(CONSISTENT);
  });

  it('revokes a lease it could not revoke while etcd was down on a later grant, unless a write landed on it', {
    timeout: 30_000,
  }, async () => {
    const { etcd, client } = rig;
    const registry = new Registry(client, {
      deployment: { stage: 'local' },
      statePrefix: 'registrar',
      leaseTtlSeconds: 180,
      tombstoneTtlSeconds: 86400,
    });
    const empty = await registry.grant(180);
    const used = await registry.grant(180); // as if a write whose answer was lost had landed on it
    await client.put('registrar/tasks/lost-answer/x').value('{}').lease(used).exec();

    await etcd.kill();
    setInvocationDeadline(Date.now() + 500);
    await registry.revoke(empty);
    await registry.revoke(used);
    setInvocationDeadline(undefined);
    await etcd.restart();

    let granted: string | undefined;
    for (let i = 0; i < 100 && granted === undefined; i++) {
      granted = await registry.grant(180).catch(() => undefined); // etcd3 may not call a host for 5 s after failures
      if (granted === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    const ttl = async (id: string) => Number((await client.leaseClient.leaseTimeToLive({ ID: id })).TTL);
    expect(await ttl(empty)).toBe(-1);
    expect(await ttl(used)).toBeGreaterThan(0);
    await registry.revoke(granted!);
    await registry.revoke(used);
  });
});
