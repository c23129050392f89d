/**
 * Warm register latency ÷ floor. The floor is the raw etcd3 client doing what a register cannot
 * avoid: one lease grant and one transactional put, sequentially, on the same etcd. The measured
 * path is the register handler (middy, validation, cached task definition, the guarded write).
 * Both run interleaved in the same process so machine noise hits them alike.
 */
import { Etcd3 } from 'etcd3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalAws } from '../scripts/local-aws';
import { startLocalEtcd } from '../scripts/local-etcd';

type Json = Record<string, any>;
const root = join(import.meta.dirname, '..');

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export async function benchRegister(rounds = 20, perRound = 50): Promise<Json> {
  const etcd = await startLocalEtcd();
  const aws = await new LocalAws().start();
  try {
    for (const d of (JSON.parse(readFileSync(join(root, 'test/fixtures/task-definitions.json'), 'utf8')) as { definitions: Json[] }).definitions) aws.putTaskDefinition(d);
    // Logs and metrics are stdout writes, not round trips: keep them out of the comparison.
    Object.assign(process.env, aws.sdkEnv(), { ETCD_ENDPOINTS: etcd.endpoint, POWERTOOLS_LOG_LEVEL: 'WARN', POWERTOOLS_METRICS_DISABLED: 'true' });
    const { handler } = await import('../functions/register');
    const sample = JSON.parse(readFileSync(join(root, 'test/fixtures/events/fargate-awsvpc-running-ecs-devguide.json'), 'utf8')) as Json;
    const context = { functionName: 'register', awsRequestId: 'bench', getRemainingTimeInMillis: () => 30_000 } as never;
    const raw = new Etcd3({ hosts: etcd.endpoint });
    let n = 0;
    const nextEvent = () => {
      const id = (n++).toString(16).padStart(32, '0');
      const e = structuredClone(sample);
      e.detail.taskArn = e.detail.taskArn.replace(/[0-9a-f]{32}$/, id);
      return e;
    };
    const floorOnce = async () => {
      const lease = await raw.leaseClient.leaseGrant({ TTL: 180 });
      await raw.if(`floor/${n}`, 'Create', '==', 0).then(raw.put(`floor/${n++}`).value('{"Op":0,"Addr":"10.0.0.1:50051"}').lease(lease.ID)).commit();
    };
    // Warm both paths: connections, task definition cache, JIT.
    for (let i = 0; i < 50; i++) {
      await handler(nextEvent(), context);
      await floorOnce();
    }
    const measured: number[] = [];
    const floor: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < perRound; i++) {
        const e = nextEvent();
        const t0 = performance.now();
        await handler(e, context);
        measured.push(performance.now() - t0);
      }
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        await floorOnce();
        floor.push(performance.now() - t0);
      }
    }
    measured.sort((a, b) => a - b);
    floor.sort((a, b) => a - b);
    raw.close();
    const p50 = percentile(measured, 0.5);
    const floorP50 = percentile(floor, 0.5);
    return {
      figure: 'warm_register_latency',
      samples: measured.length,
      register_p50_ms: +p50.toFixed(3),
      register_p90_ms: +percentile(measured, 0.9).toFixed(3),
      floor_p50_ms: +floorP50.toFixed(3),
      floor_p90_ms: +percentile(floor, 0.9).toFixed(3),
      ratio_p50: +(p50 / floorP50).toFixed(2),
      goal_ratio: 1.2,
    };
  } finally {
    await aws.stop();
    await etcd.stop();
  }
}
