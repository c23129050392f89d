// Loads a built function bundle in a plain Node process, as Lambda does, and invokes its handler:
//   node invoke-bundle.mjs <bundle.mjs> <event.json>
// Prints `RESULT <json>` on success; `ERROR <json>` and exit 1 on failure.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [bundle, eventFile] = process.argv.slice(2);
const event = JSON.parse(readFileSync(eventFile, 'utf8'));
const deadline = Date.now() + 15_000;
const context = {
  functionName: 'bundle',
  awsRequestId: 'bundle-test',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:bundle',
  memoryLimitInMB: '512',
  getRemainingTimeInMillis: () => deadline - Date.now(),
};
try {
  const { handler } = await import(pathToFileURL(bundle).href);
  const result = await handler(event, context);
  process.stdout.write(`\nRESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  process.stdout.write(`\nERROR ${JSON.stringify({ name: err.name, message: err.message })}\n`);
  process.exit(1);
}
