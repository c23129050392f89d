/**
 * Invokes one function locally with one event file, as Lambda would, without any framework:
 *
 *   ETCD_ENDPOINTS=http://127.0.0.1:2379 npm run invoke -- register test/fixtures/events/<name>.json
 *   ETCD_ENDPOINTS=... FOLLOW_QUEUE_URL=... npm run invoke -- follow test/fixtures/events/follow-up-sqs-batch.json
 *
 * Configuration comes from the environment (see docs/configuration.md). Prints the result; exits 1 on error.
 */
import { readFileSync } from 'node:fs';
import { lambdaContext } from '../test/kit/lambda';

const FUNCTIONS = ['register', 'deregister', 'renew', 'follow'] as const;
type FunctionName = (typeof FUNCTIONS)[number];

async function main() {
  const [name, file] = process.argv.slice(2);
  if (!FUNCTIONS.includes(name as FunctionName) || (!file && name !== 'renew')) {
    console.error(`usage: npm run invoke -- <${FUNCTIONS.join('|')}> <event.json>`);
    process.exit(2);
  }
  const event: unknown = file ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const { handler } = (await import(`../functions/${name}.ts`)) as {
    handler: (e: unknown, c: unknown) => Promise<unknown>;
  };
  const context = lambdaContext(name!, Number(process.env.INVOKE_TIMEOUT_MS ?? 30_000));
  try {
    console.log(JSON.stringify(await handler(event, context), null, 2));
    process.exit(0);
  } catch (err) {
    console.error(`${(err as Error).name}: ${(err as Error).message}`);
    process.exit(1);
  }
}

void main();
