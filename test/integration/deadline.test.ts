/**
 * An etcd that accepts connections but never answers: every handler must fail with a clear etcd
 * error before the Lambda deadline, and write nothing.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DependencyError } from '../../lib/errors';
import { LocalAws } from '../kit/local-aws';
import { loadEvent, withDetail } from '../kit/events';
import { testEnv } from '../support/harness';
import { lambdaContext, scheduledEvent } from '../kit/lambda';

let silent: Server;
const sockets: Socket[] = [];
let aws: LocalAws;

beforeAll(async () => {
  silent = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  aws = (await new LocalAws().start()).putSampleTaskDefinitions();
  // A per-call timeout far beyond the invocation: only the invocation deadline can stop the calls.
  Object.assign(
    process.env,
    aws.sdkEnv(),
    testEnv({ ETCD_ENDPOINTS: `http://127.0.0.1:${port}`, ETCD_TIMEOUT_MS: '60000' }),
    { POWERTOOLS_LOG_LEVEL: 'SILENT' },
  );
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  silent.close();
  await aws.stop();
});

const REMAINING_MS = 3000;

describe('etcd does not answer', () => {
  it.each([
    // Emitted now: an old event would be confirmed with ECS first, which does not know this task.
    [
      'register',
      () => import('../../functions/register'),
      { ...loadEvent('fargate-awsvpc-running-ecs-devguide'), time: new Date().toISOString() },
    ],
    [
      'deregister',
      () => import('../../functions/deregister'),
      withDetail(loadEvent('fargate-awsvpc-running-ecs-devguide'), { desiredStatus: 'STOPPED' }),
    ],
    ['renew', () => import('../../functions/renew'), scheduledEvent],
  ] as const)('%s fails with an etcd error before the Lambda deadline', async (name, load, event) => {
    const { handler } = await load();
    const started = Date.now();
    const error = await handler(event as never, lambdaContext(name, REMAINING_MS)).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as DependencyError).dependency).toBe('etcd');
    expect((error as Error).message).toMatch(/^etcd: .* failed: /);
    expect(elapsed).toBeLessThan(REMAINING_MS);
  });
});
