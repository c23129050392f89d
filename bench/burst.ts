/**
 * Burst through SQS. 1,000 started-task events reach the register function's bundle as SQS
 * batches (EventBridge → SQS → Lambda), one invocation at a time as in one warm container; the
 * floor is the raw etcd3 client doing a lease grant and a transactional put for 1,000 keys with as
 * many in flight as register keeps per batch. Throughput ÷ floor, the two alternating round by round.
 */
import pLimit from 'p-limit';
import { MESSAGES_IN_FLIGHT } from '../lib/batch';
import { fargateEvent } from '../test/kit/events';
import { sqsEvent } from '../test/kit/lambda';
import { BENCH_EVENT, benchFunction, type Json, median, rawGrantAndPut, round } from './support';

export async function benchBurst(
  events = 1000,
  batchSizes: readonly number[] = [10, 100],
  rounds = 3,
): Promise<Json[]> {
  const { handler, context, raw, close } = await benchFunction('register');
  try {
    let n = 0;
    const viaSqs = async (batchSize: number) => {
      const batches = [];
      for (let i = 0; i < events; i += batchSize)
        batches.push(
          sqsEvent(Array.from({ length: Math.min(batchSize, events - i) }, () => fargateEvent(n++, BENCH_EVENT))),
        );
      const t0 = performance.now();
      for (const batch of batches) {
        const response = await handler(batch, context);
        if (response.batchItemFailures.length > 0)
          throw new Error(`burst: ${response.batchItemFailures.length} messages failed`);
      }
      return events / ((performance.now() - t0) / 1000);
    };
    const floor = async (inFlight: number) => {
      const limit = pLimit(inFlight);
      const keys = Array.from({ length: events }, () => `floor/${n++}`);
      const t0 = performance.now();
      await Promise.all(keys.map((key) => limit(() => rawGrantAndPut(raw, key))));
      return events / ((performance.now() - t0) / 1000);
    };
    await viaSqs(10); // warm: connections, the task definition cache, JIT
    await floor(MESSAGES_IN_FLIGHT);
    const lines: Json[] = [];
    for (const batchSize of batchSizes) {
      const inFlight = Math.min(batchSize, MESSAGES_IN_FLIGHT);
      const measured: number[] = [];
      const floors: number[] = [];
      for (let r = 0; r < rounds; r++) {
        measured.push(await viaSqs(batchSize));
        floors.push(await floor(inFlight));
      }
      lines.push({
        figure: 'sqs_burst',
        events,
        batch_size: batchSize,
        in_flight: inFlight,
        register_per_s: Math.round(median(measured)),
        floor_per_s: Math.round(median(floors)),
        ratio: round(median(measured) / median(floors)),
        rounds,
        goal_ratio: 0.6,
      });
    }
    return lines;
  } finally {
    await close();
  }
}
