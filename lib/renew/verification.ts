/**
 * A renew tick's ECS verification under the read budget: loads the cursor from etcd, works out the
 * tick's read budget from `ECS_MAX_READS_PER_SECOND` and the invocation's remaining time, plans
 * the slice ({@link planSlice}), tells the tick whether a unit may still start before the ECS
 * stop time, and saves where the tick got to. The decisions are in `slice.ts`; this is the I/O.
 */
import type { Etcd3 } from 'etcd3';
import type { Config } from '../config';
import { LIST_TASKS_PAGE } from '../ecs/limits';
import { errorMessage } from '../errors';
import { invocationDeadlineMs } from '../etcd/client';
import type { StoredRecord } from '../etcd/registry';
import { renewCursorKey, stateKeyParts } from '../keys';
import {
  planSlice,
  SliceProgress,
  type SliceCluster,
  type SlicePlan,
  type SlicePosition,
  type SliceUnit,
} from './slice';

/** Part of the time left after the keepalives kept back from ECS work, for the writes that follow. */
export const WRITE_RESERVE_SHARE = 0.2;
/** Least time kept back from ECS work before the invocation deadline. */
export const MIN_WRITE_RESERVE_MS = 3000;

/** The verification part of a renew summary. */
export interface VerificationReport {
  /**
   * Ticks a full verification pass takes at this tick's budget (K): every task is described, and
   * every served cluster listed, at least once every K ticks.
   */
  readonly ticksPerPass: number;
  /** Tasks described with ECS this tick. */
  readonly tasksVerified: number;
  /** Clusters listed with ListTasks (reconcile) this tick. */
  readonly clustersListed: number;
  /** ECS reads of a full pass (DescribeTasks batches + ListTasks pages, as last seen). */
  readonly passReads: number;
  /** ECS reads this tick could afford (null: no deadline, the whole pass). */
  readonly budgetReads: number | null;
  /** Work of this tick's slice not started before the ECS stop time: done first by the next tick. */
  readonly left: { readonly tasks: number; readonly clusters: number };
  /** Where the next tick continues. */
  readonly cursor?: SlicePosition;
}

/** What is kept in etcd between ticks (`<STATE_PREFIX>/renew/cursor`). */
interface SavedCursor {
  readonly position?: SlicePosition;
  /** ListTasks pages of each cluster's last listing. */
  readonly pages: Record<string, number>;
}

/** Cluster name of a task record (its key is `<state>/tasks/<cluster>/<task>`). */
const clusterOfKey = (key: string) => stateKeyParts(key).clusterName;

/** The few logger methods used here. */
interface Warn {
  warn(message: string, ...extra: Record<string, unknown>[]): void;
}

/** One tick's verification: its plan, its progress, and the clock it must stop ECS work by. */
export class TickVerification {
  private readonly progress: SliceProgress;
  private readonly pages: Record<string, number>;
  private readonly listUnits: Map<string, SliceUnit>;

  private constructor(
    private readonly deps: { readonly etcd: Etcd3; readonly config: Config },
    readonly plan: SlicePlan,
    saved: SavedCursor,
    /** Time (ms since epoch) after which no ECS unit starts; undefined: no deadline. */
    readonly stopAt: number | undefined,
    private readonly budgetReads: number,
    private readonly dryRun: boolean,
  ) {
    this.progress = new SliceProgress(plan, saved.position);
    this.pages = { ...saved.pages };
    this.listUnits = new Map(plan.units.filter((u) => u.kind === 'list').map((u) => [u.name, u]));
  }

  /**
   * Plans this tick's verification.
   *
   * @param input.served clusters renew reconciles, by name.
   * @param input.urgent task ARNs ECS must be asked about this tick (e.g. their lease expired).
   */
  static async start(
    deps: { readonly etcd: Etcd3; readonly config: Config; readonly log: Warn },
    input: {
      readonly records: readonly StoredRecord[];
      readonly served: ReadonlyMap<string, string>;
      readonly urgent: ReadonlySet<string>;
      readonly dryRun: boolean;
    },
  ): Promise<TickVerification> {
    const saved = await loadCursor(deps.etcd, deps.config, deps.log);
    const byName = new Map<string, { cluster: string; taskArns: string[]; urgent: string[] }>();
    for (const stored of input.records) {
      const name = clusterOfKey(stored.key);
      let entry = byName.get(name);
      if (!entry) byName.set(name, (entry = { cluster: stored.record.clusterArn, taskArns: [], urgent: [] }));
      entry.taskArns.push(stored.record.taskArn);
      if (input.urgent.has(stored.record.taskArn)) entry.urgent.push(stored.record.taskArn);
    }
    for (const [name, cluster] of input.served)
      if (!byName.has(name)) byName.set(name, { cluster, taskArns: [], urgent: [] });
    const clusters: SliceCluster[] = [...byName].map(([name, c]) => ({
      name,
      ...c,
      listed: input.served.has(name),
      listPages: saved.pages[name],
    }));

    const deadline = invocationDeadlineMs();
    const now = Date.now();
    const stopAt =
      deadline === undefined
        ? undefined
        : deadline - Math.max(MIN_WRITE_RESERVE_MS, WRITE_RESERVE_SHARE * (deadline - now));
    const budget =
      stopAt === undefined
        ? Infinity
        : Math.max(0, Math.floor((deps.config.ecsMaxReadsPerSecond * (stopAt - now)) / 1000));
    const plan = planSlice({ clusters, budget, cursor: saved.position });
    return new TickVerification(deps, plan, saved, stopAt, budget, input.dryRun);
  }

  /** The DescribeTasks units of this tick, in order. */
  describeUnits(): SliceUnit[] {
    return this.plan.units.filter((u) => u.kind === 'describe');
  }

  /** This tick's ListTasks unit of a cluster, if the cluster is listed this tick. */
  listUnit(name: string): SliceUnit | undefined {
    return this.listUnits.get(name);
  }

  /**
   * Whether a unit's reads can all start before the ECS stop time at the budget's pace. A unit
   * larger than the tick's whole budget (planned alone, so the pass moves on) may start before the
   * stop time and use the time kept for writes; the invocation's deadline still bounds its reads.
   */
  canStart(unit: SliceUnit): boolean {
    if (this.stopAt === undefined) return true;
    if (unit.reads > this.budgetReads) return Date.now() <= this.stopAt;
    return Date.now() + ((unit.reads - 1) * 1000) / this.deps.config.ecsMaxReadsPerSecond <= this.stopAt;
  }

  /** Marks a unit finished (answered, or failed and reported). */
  done(unit: SliceUnit): void {
    this.progress.done(unit);
  }

  /** Records how many tasks a cluster's listing returned (its page count plans the next ticks). */
  listed(name: string, tasks: number): void {
    this.pages[name] = Math.max(1, Math.ceil(tasks / LIST_TASKS_PAGE));
  }

  /** Saves where the next tick continues (not in a dry run) and reports the tick's verification. */
  async finish(log: Warn): Promise<VerificationReport> {
    const cursor = this.progress.nextCursor();
    if (!this.dryRun) {
      try {
        const saved: SavedCursor = { position: cursor, pages: this.pages };
        await this.deps.etcd.put(renewCursorKey(this.deps.config.statePrefix)).value(JSON.stringify(saved));
      } catch (err) {
        // The next tick then repeats part of this one: slower coverage, nothing lost.
        log.warn('renew could not save where verification got to', { error: errorMessage(err) });
      }
    }
    const left = this.progress.left();
    return {
      ticksPerPass: this.plan.ticksPerPass,
      tasksVerified: this.plan.tasks - left.tasks,
      clustersListed: this.plan.clusters - left.clusters,
      passReads: this.plan.passReads,
      budgetReads: Number.isFinite(this.budgetReads) ? this.budgetReads : null,
      left,
      cursor,
    };
  }
}

/** The saved cursor; a missing or unreadable one starts a pass from the beginning. */
async function loadCursor(etcd: Etcd3, config: Config, log: Warn): Promise<SavedCursor> {
  try {
    const raw = await etcd.get(renewCursorKey(config.statePrefix)).string();
    if (raw === null) return { pages: {} };
    const parsed = JSON.parse(raw) as Partial<SavedCursor>;
    const p = parsed.position;
    const position =
      p && typeof p.cluster === 'string' && typeof p.task === 'string'
        ? { cluster: p.cluster, task: p.task }
        : undefined;
    const pages: Record<string, number> = {};
    for (const [name, n] of Object.entries(parsed.pages ?? {})) if (Number.isInteger(n) && n > 0) pages[name] = n;
    return { position, pages };
  } catch (err) {
    log.warn('renew cursor unreadable: verification starts from the beginning', { error: errorMessage(err) });
    return { pages: {} };
  }
}
