/**
 * The local ECS endpoint of the benchmarks, in a process of its own: told over IPC which
 * synthetic tasks exist (bench/support.ts BENCH_EVENT), it answers the real AWS SDK.
 */
import { LocalAws } from '../test/kit/local-aws';
import { fargateEvent } from '../test/kit/events';
import { BENCH_EVENT } from './support';

const aws = new LocalAws();
type Message = {
  start?: true;
  add?: [number, number];
  clusters?: number;
  counts?: true;
  throttle?: { capacity: number; refillPerSecond: number } | null;
  update?: [string, Record<string, unknown>];
};
process.on('message', async (message: Message) => {
  if (message.start) {
    (await aws.start()).putSampleTaskDefinitions();
    process.send!({ env: aws.sdkEnv() });
  } else if (message.add) {
    for (let n = message.add[0]; n < message.add[1]; n++)
      aws.putTaskFromDetail(fargateEvent(n, { ...BENCH_EVENT, clusters: message.clusters }).detail);
    process.send!({ ok: true });
  } else if (message.counts) {
    process.send!({ counts: Object.fromEntries(aws.calls), throttled: Object.fromEntries(aws.throttled) });
  } else if (message.throttle !== undefined) {
    aws.throttle(message.throttle ?? undefined);
    process.send!({ ok: true });
  } else if (message.update) {
    aws.updateTask(...message.update);
    process.send!({ ok: true });
  }
});
process.on('disconnect', () => process.exit(0));
