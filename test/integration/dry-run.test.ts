/** The renew function with DRY_RUN=true, configured from the environment as in Lambda. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, testEnv, type Harness } from '../support/harness';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { fargateEvent } from '../kit/events';
import { parseTaskStateChange } from '../../lib/ecs/event';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  Object.assign(
    process.env,
    testEnv({ REGISTRY_PREFIX: h.config.registryPrefix, STATE_PREFIX: h.config.statePrefix }),
    { DRY_RUN: 'true', POWERTOOLS_LOG_LEVEL: 'SILENT' },
  );
});
afterAll(async () => h.close());

it('renew with DRY_RUN=true reports what it would change and writes nothing', async () => {
  const running = fargateEvent(1);
  const gone = fargateEvent(2);
  for (const e of [running, gone]) {
    h.aws.putTaskFromDetail(e.detail);
    await h.registrar.register(parseTaskStateChange(e).task);
  }
  h.aws.tasks.delete(gone.detail.taskArn);
  const before = await h.revisions();

  const { handler } = await import('../../functions/renew');
  const summary = await handler(scheduledEvent, lambdaContext('renew'));
  // A MISSING answer is first marked (confirmed by a later tick before removal), never tombstoned.
  expect(summary).toMatchObject({
    dryRun: true,
    records: 2,
    renewed: 1,
    removed: 0,
    missing: 1,
    planned: [
      {
        taskArn: gone.detail.taskArn,
        action: 'mark-missing',
        reason: 'ECS answers MISSING and ListTasks does not list the task: kept until a later tick confirms',
      },
    ],
  });
  expect(await h.revisions()).toEqual(before);
});
