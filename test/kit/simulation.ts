/**
 * A simulated ECS fleet for convergence tests: N tasks that start, turn healthy or unhealthy and
 * stop, the "ECS Task State Change" events ECS would emit for them, the platform's delivery of
 * those events (lost, duplicated, shuffled), and the final truth the local ECS endpoint answers
 * with and etcd must end up equal to.
 */
import { parseEndpoint } from '../../lib/discovery/parse';
import type { LocalAws } from './local-aws';
import { loadEvent } from './events';
import { chance, pickWeighted, shuffle, type Random } from './random';

type Json = Record<string, any>;

/** How a simulated task's life goes. */
export const Fate = {
  /** Starts and runs; no health check. Published. */
  Runs: 'runs',
  /** Has a health check that passes after start (only DescribeTasks says so). Published. */
  TurnsHealthy: 'turns-healthy',
  /** Has a health check that has not passed yet. Not published. */
  StillStarting: 'still-starting',
  /** Has a health check that fails after start. Not published. */
  TurnsUnhealthy: 'turns-unhealthy',
  /** Runs, then ECS stops it (desiredStatus STOPPED, then STOPPED). Not published. */
  Stops: 'stops',
  /** Runs, then stops, and every event of the stop is lost. Not published. */
  StopsSilently: 'stops-silently',
  /** Stopped before it ever ran. Not published. */
  FailsToStart: 'fails-to-start',
} as const;
export type Fate = (typeof Fate)[keyof typeof Fate];

const FATES: readonly (readonly [Fate, number])[] = [
  [Fate.Runs, 30],
  [Fate.TurnsHealthy, 20],
  [Fate.StillStarting, 5],
  [Fate.TurnsUnhealthy, 8],
  [Fate.Stops, 20],
  [Fate.StopsSilently, 7],
  [Fate.FailsToStart, 10],
];

const ACCOUNT = 'arn:aws:ecs:us-west-2:111122223333';
const CLUSTERS = ['chaos-a', 'chaos-b'];
const HOSTS = 8;

/** The services of the simulated fleet: one awsvpc without health check, one with, one bridge. */
const SERVICES = {
  api: {
    definition: `${ACCOUNT}:task-definition/chaos-api:1`,
    container: 'app',
    containerPort: 50051,
    mode: 'awsvpc',
    healthCheck: false,
  },
  web: {
    definition: `${ACCOUNT}:task-definition/chaos-web:1`,
    container: 'web',
    containerPort: 8080,
    mode: 'awsvpc',
    healthCheck: true,
  },
  legacy: {
    definition: `${ACCOUNT}:task-definition/chaos-legacy:1`,
    container: 'legacy',
    containerPort: 9000,
    mode: 'bridge',
    healthCheck: false,
  },
} as const;
type Service = keyof typeof SERVICES;

/** One simulated task and everything that happens to it. */
export interface SimTask {
  readonly taskArn: string;
  readonly taskId: string;
  readonly fate: Fate;
  readonly service: Service;
  /** Address and port clients dial (ENI address, or the host's address and host port). */
  readonly ip: string;
  readonly port: number;
  /** Every event of the task was lost (repaired only by reconcile). */
  readonly unseen: boolean;
  /** Events ECS emits for it, in version order. */
  readonly events: readonly Json[];
  /** What DescribeTasks answers at the end; `undefined`: ECS no longer knows the task. */
  readonly final?: Json;
}

/** One delivery of an event to a handler. */
export interface Delivery {
  readonly handler: 'register' | 'deregister';
  readonly event: Json;
}

/** How the platform delivered the events. */
export interface DeliveryStats {
  /** Events ECS emitted. */
  emitted: number;
  /** Events an EventBridge rule matches (RUNNING/RUNNING → register, desiredStatus STOPPED → deregister). */
  routed: number;
  /** Routed events lost at random. */
  lost: number;
  /** Routed events lost because the scenario says so (unseen tasks, silent stops). */
  lostByScenario: number;
  /** Extra copies delivered. */
  duplicates: number;
  /** Deliveries made. */
  deliveries: number;
}

const sample = loadEvent('fargate-awsvpc-running-ecs-devguide');
const hostArn = (k: number) => `${ACCOUNT}:container-instance/${k.toString(16).padStart(32, 'c')}`;
const hostIp = (k: number) => `172.31.0.${10 + k}`;

/** Which containers are in which status at a task status. */
function containerStatus(lastStatus: string): string {
  if (lastStatus === 'RUNNING') return 'RUNNING';
  return ['STOPPED', 'DEPROVISIONING'].includes(lastStatus) ? 'STOPPED' : 'PENDING';
}

function detailOf(
  task: Omit<SimTask, 'events' | 'final'> & { cluster: string; host: number },
  version: number,
  lastStatus: string,
  desiredStatus: string,
  health?: string,
): Json {
  const s = SERVICES[task.service];
  const container: Json = {
    name: s.container,
    lastStatus: containerStatus(lastStatus),
    ...(health ? { healthStatus: health } : {}),
  };
  const network =
    s.mode === 'awsvpc'
      ? {
          attachments: [
            {
              id: `eni-${task.taskId}`,
              type: 'eni',
              status: 'ATTACHED',
              details: [{ name: 'privateIPv4Address', value: task.ip }],
            },
          ],
          containers: [{ ...container, networkInterfaces: [{ privateIpv4Address: task.ip }] }],
          launchType: 'FARGATE',
        }
      : {
          attachments: [],
          containerInstanceArn: hostArn(task.host),
          containers: [
            {
              ...container,
              networkBindings: [
                { bindIP: '0.0.0.0', containerPort: s.containerPort, hostPort: task.port, protocol: 'tcp' },
              ],
            },
          ],
          launchType: 'EC2',
        };
  return {
    ...structuredClone(sample.detail),
    taskArn: task.taskArn,
    clusterArn: `${ACCOUNT}:cluster/${task.cluster}`,
    taskDefinitionArn: s.definition,
    group: `service:${task.service}`,
    version,
    lastStatus,
    desiredStatus,
    ...(health ? { healthStatus: health } : {}),
    ...network,
  };
}

/**
 * Makes `n` tasks with random fates (the same for the same random sequence).
 *
 * @param unseenRate share of tasks whose every event is lost.
 */
export function simulateFleet(n: number, random: Random, unseenRate = 0.05): SimTask[] {
  const tasks: SimTask[] = [];
  for (let i = 0; i < n; i++) {
    const fate = pickWeighted(random, FATES);
    const gated = fate === Fate.TurnsHealthy || fate === Fate.StillStarting || fate === Fate.TurnsUnhealthy;
    const service: Service = gated ? 'web' : chance(random, 0.2) ? 'legacy' : 'api';
    const host = i % HOSTS;
    const taskId = `5eed${i.toString(16).padStart(28, '0')}`;
    const cluster = CLUSTERS[i % CLUSTERS.length]!;
    const base = {
      taskArn: `${ACCOUNT}:task/${cluster}/${taskId}`,
      taskId,
      fate,
      service,
      cluster,
      host,
      ip: service === 'legacy' ? hostIp(host) : `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      port: service === 'legacy' ? 32768 + (i % 32767) : SERVICES[service].containerPort,
      unseen: chance(random, unseenRate),
    };
    const at = (version: number, last: string, desired: string, health?: string) =>
      detailOf(base, version, last, desired, health);
    const started = [at(1, 'PROVISIONING', 'RUNNING'), at(2, 'PENDING', 'RUNNING'), at(3, 'RUNNING', 'RUNNING')];
    const stopped = [at(4, 'RUNNING', 'STOPPED'), at(5, 'DEPROVISIONING', 'STOPPED'), at(6, 'STOPPED', 'STOPPED')];
    // Stopped tasks stay describable for a while, then ECS forgets them.
    const forgotten = chance(random, 0.5);
    let events: Json[];
    let final: Json | undefined;
    switch (fate) {
      case Fate.Stops:
      case Fate.StopsSilently:
        events = [...started, ...stopped];
        final = forgotten ? undefined : stopped[2];
        break;
      case Fate.FailsToStart:
        events = [started[0]!, started[1]!, at(3, 'PENDING', 'STOPPED'), at(4, 'STOPPED', 'STOPPED')];
        final = forgotten ? undefined : events[3];
        break;
      default: {
        // Events usually carry no health; sometimes one announces HEALTHY (version 4), and a
        // later failing check changes the task again (version 5) without an event anyone sees.
        const announced = gated && fate !== Fate.StillStarting && chance(random, 0.5);
        events = announced ? [...started, at(4, 'RUNNING', 'RUNNING', 'HEALTHY')] : started;
        const health = fate === Fate.TurnsHealthy ? 'HEALTHY' : fate === Fate.TurnsUnhealthy ? 'UNHEALTHY' : 'UNKNOWN';
        final = at(events.length + (fate === Fate.TurnsUnhealthy && announced ? 1 : 0), 'RUNNING', 'RUNNING', health);
      }
    }
    tasks.push({
      ...base,
      events: events.map((detail) => ({
        ...sample,
        id: `${taskId}-${detail.version}`,
        time: new Date().toISOString(),
        resources: [base.taskArn],
        detail,
      })),
      final,
    });
  }
  return tasks;
}

/** Loads the fleet's final state, task definitions and hosts into the local ECS/EC2 endpoint. */
export function loadFleet(aws: LocalAws, tasks: readonly SimTask[]): void {
  for (const [, s] of Object.entries(SERVICES)) {
    aws.putTaskDefinition({
      taskDefinitionArn: s.definition,
      family: s.definition.split('/').pop()!.split(':')[0],
      networkMode: s.mode,
      containerDefinitions: [
        {
          name: s.container,
          essential: true,
          portMappings: [
            { containerPort: s.containerPort, hostPort: s.mode === 'bridge' ? 0 : s.containerPort, protocol: 'tcp' },
          ],
          ...(s.healthCheck
            ? { healthCheck: { command: ['CMD-SHELL', 'grpc_health_probe -addr=:8080'], interval: 10, retries: 3 } }
            : {}),
        },
      ],
    });
  }
  for (let k = 0; k < HOSTS; k++) aws.putContainerInstance(hostArn(k), `i-0chaos${k}`, hostIp(k));
  for (const task of tasks) if (task.final) aws.putTaskFromDetail(task.final);
}

/** Whether clients should reach the task at the end: running and (no health check or healthy). */
export function published(task: SimTask): boolean {
  const f = task.final;
  if (f?.lastStatus !== 'RUNNING' || f.desiredStatus !== 'RUNNING') return false;
  return !SERVICES[task.service].healthCheck || f.healthStatus === 'HEALTHY';
}

/** Endpoint key → `ip:port` that etcd must hold at the end. */
export function expectedEndpoints(tasks: readonly SimTask[], registryPrefix: string): Map<string, string> {
  return new Map(
    tasks.filter(published).map((t) => [`${registryPrefix}/${t.service}/${t.taskId}:${t.port}`, `${t.ip}:${t.port}`]),
  );
}

/** Which handler an EventBridge rule sends an event to, as serverless.yml routes them. */
export function route(event: Json): Delivery['handler'] | undefined {
  const d = event.detail;
  if (d.lastStatus === 'RUNNING' && d.desiredStatus === 'RUNNING') return 'register';
  if (d.desiredStatus === 'STOPPED') return 'deregister';
  return undefined;
}

/** The platform's at-least-once, unordered delivery: some events lost, some twice, all shuffled. */
export function deliver(
  tasks: readonly SimTask[],
  random: Random,
  rates: { lost: number; duplicated: number },
): { deliveries: Delivery[]; stats: DeliveryStats } {
  const stats: DeliveryStats = { emitted: 0, routed: 0, lost: 0, lostByScenario: 0, duplicates: 0, deliveries: 0 };
  const deliveries: Delivery[] = [];
  for (const task of tasks) {
    for (const event of task.events) {
      stats.emitted++;
      const handler = route(event);
      if (!handler) continue;
      stats.routed++;
      if (task.unseen || (task.fate === Fate.StopsSilently && handler === 'deregister')) {
        stats.lostByScenario++;
        continue;
      }
      if (chance(random, rates.lost)) {
        stats.lost++;
        continue;
      }
      deliveries.push({ handler, event });
      if (chance(random, rates.duplicated)) {
        stats.duplicates++;
        deliveries.push({ handler, event: structuredClone(event) });
      }
    }
  }
  stats.deliveries = deliveries.length;
  return { deliveries: shuffle(random, deliveries), stats };
}

/** How etcd differs from the truth. */
export interface Divergence {
  /** Endpoint keys etcd holds that the truth lacks, or with another address (`key → addr`). */
  readonly stale: string[];
  /** Endpoint keys of the truth etcd lacks. */
  readonly missing: string[];
}

/** Compares the endpoint keys of a snapshot with the truth, reading values as a client does. */
export function divergence(
  kvs: readonly (readonly [string, string, string])[],
  expected: ReadonlyMap<string, string>,
  registryPrefix: string,
): Divergence {
  const actual = new Map(
    kvs
      .filter(([key]) => key.startsWith(`${registryPrefix}/`))
      .map(([key, value]) => [key, parseEndpoint(key, value)?.addr]),
  );
  return {
    stale: [...actual].filter(([key, addr]) => expected.get(key) !== addr).map(([key, addr]) => `${key} → ${addr}`),
    missing: [...expected.keys()].filter((key) => !actual.has(key)),
  };
}
