/**
 * Warm register latency ÷ floor. The floor is the raw etcd3 client doing what a register cannot
 * avoid: one lease grant and one transactional put, sequentially, on the same etcd. The measured
 * path is the register function's bundle (middy, validation, cached task definition, the guarded
 * write). The two alternate call by call in the same process, so machine noise hits them alike.
 */
import { fargateEvent } from '../test/kit/events';
import { BENCH_EVENT, benchFunction, type Json, median, percentile, rawGrantAndPut, round } from './support';

export async function benchRegister(samples = 2000, warmup = 200): Promise<Json> {
  const { handler, context, raw, close } = await benchFunction('register');
  try {
    let n = 0;
    const floorOnce = (i: number) => rawGrantAndPut(raw, `floor/${i}`);
    const registerOnce = async (event: Json) => {
      const outcome = await handler(event, context);
      if (outcome.action !== 'registered') throw new Error(`register: ${JSON.stringify(outcome)}`);
    };
    // Warm both paths: connections, the task definition cache, JIT.
    for (let i = 0; i < warmup; i++) {
      await registerOnce(fargateEvent(n++, BENCH_EVENT));
      await floorOnce(n);
    }
    const measured: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < samples; i++) {
      const event = fargateEvent(n++, BENCH_EVENT); // built before the clock starts
      const registerFirst = i % 2 === 0;
      for (const which of registerFirst ? ['register', 'floor'] : ['floor', 'register']) {
        const t0 = performance.now();
        if (which === 'register') await registerOnce(event);
        else await floorOnce(n);
        (which === 'register' ? measured : floor).push(performance.now() - t0);
      }
    }
    const pairs = measured.map((m, i) => m / floor[i]!);
    return {
      figure: 'warm_register_latency',
      samples,
      register_p50_ms: round(median(measured), 3),
      register_p90_ms: round(percentile(measured, 0.9), 3),
      floor_p50_ms: round(median(floor), 3),
      floor_p90_ms: round(percentile(floor, 0.9), 3),
      ratio_p50: round(median(measured) / median(floor)),
      paired_ratio_p50: round(median(pairs)),
      goal_ratio: 1.2,
    };
  } finally {
    await close();
  }
}
