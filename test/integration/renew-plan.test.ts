/**
 * A renew dry run plans exactly what the real tick then does: both come from the same planner and
 * the same facts, including the tombstone check a repair's write applies. Real etcd, the local ECS
 * endpoint through the AWS SDK.
 */
import { afterEach, expect, it } from 'vitest';
import { deregisterTask } from '../../lib/deregister';
import { parseTaskStateChange } from '../../lib/ecs/event';
import { createHarness, type Harness } from '../support/harness';
import { fargateEvent } from '../kit/events';
import { renewTasks } from '../../lib/renew/run';

type Json = Record<string, any>;

let h: Harness;
afterEach(async () => h?.close());

const task = (event: Json) => parseTaskStateChange(event).task;
const idOf = (event: Json) => (event.detail.taskArn as string).split('/').pop()!;

function inCluster(event: Json, cluster: string): Json {
  const arn = `arn:aws:ecs:us-west-2:111122223333:task/${cluster}/${idOf(event)}`;
  const detail = { ...event.detail, clusterArn: `arn:aws:ecs:us-west-2:111122223333:cluster/${cluster}`, taskArn: arn };
  return { ...event, detail: { ...detail, containers: detail.containers.map((c: Json) => ({ ...c, taskArn: arn })) } };
}

it('plans (dry run) exactly the steps the real tick then takes, and logs each change on one INFO line', async () => {
  h = await createHarness();
  const [ok, stopping, unhealthy, missing, lostKey, lostEvent, tombstoned] = [0, 1, 2, 3, 4, 5, 6].map((n) =>
    fargateEvent(500 + n),
  );
  const doomed = inCluster(fargateEvent(507), 'Gone');
  for (const e of [ok, stopping, unhealthy, missing, lostKey, tombstoned, doomed]) {
    h.aws.putTaskFromDetail(e!.detail);
    await h.registrar.register(task(e!));
  }
  h.aws.updateTask(stopping!.detail.taskArn, { desiredStatus: 'STOPPED' });
  h.aws.updateTask(unhealthy!.detail.taskArn, { healthStatus: 'UNHEALTHY' });
  h.aws.tasks.delete(missing!.detail.taskArn);
  await h.etcd.delete().key(Object.keys(await h.endpoints()).find((k) => k.includes(idOf(lostKey!)))!);
  h.aws.putTaskFromDetail(lostEvent!.detail);
  // Stopped as far as etcd knows (its stop event came), while ListTasks still lists it running:
  // the repair's write would refuse it, so the plan must not list it.
  await deregisterTask(h.registry, { ...task(tombstoned!), stoppedAt: new Date().toISOString() });
  h.aws.deleteCluster(doomed.detail.clusterArn);
  const before = await h.revisions();

  const dry = await renewTasks(h.registrar, { dryRun: true });
  expect(await h.revisions()).toEqual(before); // nothing written
  const planned = dry.planned.map((p) => [p.taskArn, p.action]).sort();
  expect(planned).toEqual(
    [
      [stopping!.detail.taskArn, 'deregister'],
      [unhealthy!.detail.taskArn, 'withdraw'],
      [missing!.detail.taskArn, 'mark-missing'],
      [lostKey!.detail.taskArn, 'restore-keys'],
      [lostEvent!.detail.taskArn, 'repair'],
      [doomed.detail.taskArn, 'remove-gone'],
      [doomed.detail.clusterArn, 'forget-cluster'],
    ].sort(),
  );
  const dryLines = h.log.lines.filter((l) => l.level === 'info' && l.message.startsWith('dry run: renew would '));
  expect(dryLines).toHaveLength(planned.length);
  h.log.lines.length = 0;

  const real = await renewTasks(h.registrar);
  expect(real.applied.map((a) => [a.taskArn, a.action]).sort()).toEqual(planned);
  expect(real.applied.every((a) => a.result === 'done')).toBe(true);
  for (const count of [
    'renewed',
    'registered',
    'repaired',
    'restored',
    'removed',
    'missing',
    'withdrawn',
    'clustersRemoved',
    'failOpen',
    'failed',
  ] as const)
    expect(real[count], count).toBe(dry[count]);

  // One INFO line per change, saying task, service(s), keys, action and reason.
  const changeLines = h.log.lines.filter((l) => /^renew [a-z-]+$/.test(l.message));
  expect(changeLines.map((l) => l.level)).toEqual(Array(planned.length - 1).fill('info')); // forget-cluster logs at ERROR
  const line = (arn: string) => changeLines.find((l) => (l.extra[0] as Json).taskArn === arn)?.extra[0] as Json;
  expect(line(stopping!.detail.taskArn)).toMatchObject({
    action: 'deregister',
    services: ['sample-fargate'],
    keys: [expect.stringContaining(idOf(stopping!))],
    reason: 'ECS says RUNNING/STOPPED at version 4',
    result: 'done',
  });
  expect(line(lostEvent!.detail.taskArn)).toMatchObject({
    action: 'repair',
    keys: [expect.stringContaining(idOf(lostEvent!))],
    reason: expect.stringContaining('without a record'),
  });
  expect(
    h.log.lines.filter((l) => l.level === 'error' && l.message.startsWith('cluster no longer exists')),
  ).toHaveLength(1);
});
