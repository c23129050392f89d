/**
 * The local ECS endpoint of the benchmarks, in a process of its own: told over IPC which
 * synthetic tasks exist (bench/support.ts benchEvent), it answers the real AWS SDK.
 */
import { LocalAws } from '../scripts/local-aws';
import { benchEvent } from './support';

const aws = new LocalAws();
process.on('message', async (message: { start?: true; add?: [number, number]; counts?: true }) => {
  if (message.start) {
    (await aws.start()).putSampleTaskDefinitions();
    process.send!({ env: aws.sdkEnv() });
  } else if (message.add) {
    for (let n = message.add[0]; n < message.add[1]; n++) aws.putTaskFromDetail(benchEvent(n).detail);
    process.send!({ ok: true });
  } else if (message.counts) {
    process.send!({ counts: Object.fromEntries(aws.calls) });
  }
});
process.on('disconnect', () => process.exit(0));
