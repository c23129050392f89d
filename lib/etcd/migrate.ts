/**
 * Moving the state of the previous layout into this deployment's namespace, once. Before state
 * namespaces had owners, every deployment kept its state under `registrar/` (or its `STATE_PREFIX`)
 * with cluster segments that were bare names (`registrar/tasks/<cluster>/<task-id>`). A deployment
 * takes over, from that layout, exactly what is of its own account and region: task records,
 * pending listings, MISSING marks and tombstones keep their value and their lease (so a published
 * task stays published, its endpoint keys are not touched), cluster keys keep their value; each
 * key moves in its own transaction guarded on it being as read and its new key being absent, so a
 * migration interrupted or run twice, or by two processes at once, changes nothing more. Keys of
 * other accounts or regions are left where they are, for their own deployment to move.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import type { Config } from '../config';
import { clusterSegment, foreignReason, isLegacySegment } from '../deployment';
import { parseTaskArn } from '../ecs/arn';
import { ConfigError } from '../errors';
import { serviceOfEndpointKey } from '../keys';
import { absent, bytes, del, type EtcdCall, modifiedAt, prefixEnd, put } from './operations';

/** One key to move: where it is, where it goes, and what it holds. */
export interface LegacyMove {
  readonly from: IKeyValue;
  readonly to: string;
}

/** What a migration found and did. */
export interface MigrationResult {
  /** Keys of the previous layout of this deployment's account and region, moved now. */
  readonly moved: number;
  /** Keys whose new key was written already (by this code, since): the old one was deleted. */
  readonly superseded: number;
  /** Keys that changed or expired while being moved (left for their lease to end, or for the next start). */
  readonly skipped: number;
  /** Keys of the previous layout left alone: another account's or region's. */
  readonly foreign: number;
}

/** What a migration needs. */
export interface MigrateContext {
  readonly client: Etcd3;
  readonly config: Pick<
    Config,
    'deployment' | 'statePrefix' | 'legacyStatePrefix' | 'registryPrefix' | 'registryPrefixExplicit'
  >;
  readonly call: EtcdCall;
}

/** What {@link planMigration} decided: the keys to move, and the directory to adopt, if any. */
export interface MigrationPlan {
  readonly moves: LegacyMove[];
  readonly foreign: number;
  /**
   * The one directory the records to move publish under, when `REGISTRY_PREFIX` is the default
   * and differs from it: the deployment keeps it (see lib/etcd/ownership.ts).
   */
  readonly adopt?: string;
}

/** The state kinds whose keys end in `<cluster>/<task-id>`, and the field of their value naming the task or cluster. */
const PER_TASK = [
  { kind: 'tasks', arnField: 'clusterArn' },
  { kind: 'pending', arnField: 'clusterArn' },
  { kind: 'missing', arnField: 'taskArn' },
  { kind: 'tombstones', arnField: 'taskArn' },
] as const;

/** The cluster ARN a legacy key stands for: from the value, or from the task ARN and the key's cluster name. */
function clusterArnOf(arn: string, legacyClusterName: string): string | undefined {
  if (arn.includes(':cluster/')) return arn;
  const task = parseTaskArn(arn);
  if (!task) return undefined;
  const partition = arn.slice(0, arn.indexOf(':ecs:'));
  return `${partition}:ecs:${task.region}:${task.account}:cluster/${task.clusterName ?? legacyClusterName}`;
}

async function range(ctx: MigrateContext, prefix: string): Promise<IKeyValue[]> {
  const res = await ctx.call('read the previous layout', () =>
    ctx.client.kv.range({ key: bytes(prefix), range_end: prefixEnd(prefix) }),
  );
  return res.kvs;
}

/** The directory of an endpoint key (`<prefix>/<service>/<last>` → `<prefix>`; "" for the root). */
function directoryOf(key: string): string {
  return key.split('/').slice(0, -2).join('/');
}

/**
 * Reads the previous layout and decides what to move (pure past the reads; writes nothing). When
 * `REGISTRY_PREFIX` is the default and every record to move publishes under one other directory
 * (an upgrade with the stack's defaults: `services`), the plan adopts that directory instead of
 * refusing, so the tasks stay where clients watch.
 *
 * @throws {ConfigError} (`REGISTRY_PREFIX`) when this deployment's records of the previous layout
 *   publish outside `REGISTRY_PREFIX` and no directory can be adopted (it was set, or they publish
 *   under several): moving them would split one service between two directories, so nothing is
 *   moved or written until the operator chooses.
 */
export async function planMigration(ctx: MigrateContext): Promise<MigrationPlan> {
  const { deployment, statePrefix, legacyStatePrefix, registryPrefix, registryPrefixExplicit } = ctx.config;
  const moves: LegacyMove[] = [];
  let foreign = 0;
  const outside = new Set<string>();
  const directories = new Set<string>();
  for (const { kind, arnField } of PER_TASK) {
    for (const kv of await range(ctx, `${legacyStatePrefix}/${kind}/`)) {
      const key = kv.key.toString();
      const parts = key.slice(`${legacyStatePrefix}/${kind}/`.length).split('/');
      const [taskId, cluster] = [parts[parts.length - 1], parts[parts.length - 2]];
      const expected = kind === 'pending' ? 3 : 2;
      if (parts.length !== expected || !taskId || !cluster || !isLegacySegment(cluster)) continue;
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(kv.value.toString()) as Record<string, unknown>;
      } catch {
        continue; // not this code's value: left alone
      }
      const arn = typeof value[arnField] === 'string' ? (value[arnField] as string) : '';
      const clusterArn = clusterArnOf(arn, cluster);
      if (!clusterArn || foreignReason(deployment, clusterArn)) {
        foreign++;
        continue;
      }
      if (kind === 'tasks')
        for (const k of Array.isArray(value.keys) ? (value.keys as string[]) : []) {
          directories.add(directoryOf(k));
          if (serviceOfEndpointKey(registryPrefix, k) === undefined) outside.add(directoryOf(k));
        }
      const service = kind === 'pending' ? `${parts[0]}/` : '';
      moves.push({ from: kv, to: `${statePrefix}/${kind}/${service}${clusterSegment(clusterArn)}/${taskId}` });
    }
  }
  for (const kv of await range(ctx, `${legacyStatePrefix}/clusters/`)) {
    const name = kv.key.toString().slice(`${legacyStatePrefix}/clusters/`.length);
    const arn = kv.value.toString();
    if (!isLegacySegment(name) || name.includes('/')) continue;
    if (!arn.includes(':cluster/') || foreignReason(deployment, arn)) {
      foreign++;
      continue;
    }
    moves.push({ from: kv, to: `${statePrefix}/clusters/${clusterSegment(arn)}` });
  }
  const [only] = directories;
  if (outside.size > 0 && !registryPrefixExplicit && directories.size === 1 && only !== undefined)
    return { moves, foreign, adopt: only };
  if (outside.size > 0)
    throw new ConfigError(
      'REGISTRY_PREFIX',
      `this deployment's tasks of the previous layout (under "${legacyStatePrefix}/") are published under ` +
        `${[...outside].map((p) => `"${p}"`).join(', ')}, but REGISTRY_PREFIX is "${registryPrefix}"` +
        `${registryPrefixExplicit ? '' : ' (the default; no single directory to keep: they publish under several)'}: ` +
        'moving them would split each service between two directories. Set REGISTRY_PREFIX (serverless param ' +
        'registryPrefix) to where your clients watch, then start again; nothing was written',
    );
  return { moves, foreign };
}

/** Moves one key: its value and lease to the new key, guarded; the old key is deleted either way if unchanged. */
async function move(ctx: MigrateContext, { from, to }: LegacyMove): Promise<'moved' | 'superseded' | 'skipped'> {
  const key = from.key.toString();
  const lease = from.lease === '0' ? undefined : from.lease;
  try {
    const res = await ctx.call('move a key of the previous layout', () =>
      ctx.client.kv.txn({
        compare: [modifiedAt(key, from.mod_revision), absent(to)],
        success: [put(to, from.value.toString(), lease), del(key)],
        failure: [],
      }),
    );
    if (res.succeeded) return 'moved';
    const dropped = await ctx.call('drop a superseded key of the previous layout', () =>
      ctx.client.kv.txn({ compare: [modifiedAt(key, from.mod_revision)], success: [del(key)], failure: [] }),
    );
    return dropped.succeeded ? 'superseded' : 'skipped';
  } catch {
    // Its lease ended meanwhile (the key is gone with it), or etcd failed: the next start tries again.
    return 'skipped';
  }
}

/**
 * Moves this deployment's state of the previous layout into its namespace (see the module's doc).
 * Idempotent: a second run finds nothing of its own left to move.
 *
 * @throws {ConfigError} see {@link planMigration}; {@link DependencyError} when etcd cannot be read.
 */
export async function migrateLegacyState(
  ctx: MigrateContext,
  planned?: Pick<MigrationPlan, 'moves' | 'foreign'>,
): Promise<MigrationResult> {
  const { moves, foreign } = planned ?? (await planMigration(ctx));
  const counts = { moved: 0, superseded: 0, skipped: 0 };
  for (let i = 0; i < moves.length; i += 32)
    for (const outcome of await Promise.all(moves.slice(i, i + 32).map((m) => move(ctx, m)))) counts[outcome]++;
  return { ...counts, foreign };
}
