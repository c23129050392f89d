/**
 * Which part of the fleet a renew tick verifies with ECS, when a full pass does not fit the read
 * budget. Pure: records, last known ListTasks page counts, the tick's read budget and the cursor
 * in; the tick's units of ECS work out. Every record is still renewed every tick (keepalives need
 * only etcd); only the ECS verification is sliced.
 *
 * A pass is one walk over a fixed order: clusters by name; in each, its task records by task id
 * (one DescribeTasks per 100 consecutive records), then its ListTasks (reconcile, for clusters
 * renew serves). The cursor is the position of the last unit a tick finished; the next tick
 * starts right after it and wraps around, so every task is verified, and every cluster listed, at
 * least once every K ticks, K = ceil(reads of a pass / reads of a tick).
 */
import { DESCRIBE_TASKS_BATCH, LIST_TASKS_PAGE } from '../ecs/limits';

/** A place in the pass order: a task of a cluster, or (task {@link LIST_POSITION}) the cluster's ListTasks. */
export interface SlicePosition {
  /** Cluster name. */
  readonly cluster: string;
  /** Task id, or {@link LIST_POSITION}. */
  readonly task: string;
}

/** The task part of a cluster's ListTasks position: after every task id (ids are hex or UUIDs). */
export const LIST_POSITION = '~';

/** One cluster's part of the fleet, as the planner sees it. */
export interface SliceCluster {
  /** Cluster name (orders the pass and names positions). */
  readonly name: string;
  /** Cluster as ECS calls name it (ARN or name). */
  readonly cluster: string;
  /** Task ARNs recorded in it. */
  readonly taskArns: readonly string[];
  /** Task ARNs that must be described this tick wherever the cursor is (e.g. lease found expired). */
  readonly urgent?: readonly string[];
  /** Whether renew reconciles it with ListTasks. */
  readonly listed: boolean;
  /** ListTasks pages of its last listing, if known. */
  readonly listPages?: number;
}

/** One unit of ECS work. `position` is absent for urgent describes (outside the pass order). */
export type SliceUnit =
  | {
      readonly kind: 'describe';
      readonly cluster: string;
      readonly name: string;
      readonly taskArns: readonly string[];
      readonly reads: 1;
      readonly position?: SlicePosition;
    }
  | {
      readonly kind: 'list';
      readonly cluster: string;
      readonly name: string;
      readonly reads: number;
      readonly position: SlicePosition;
    };

/** What a tick verifies. */
export interface SlicePlan {
  /** Units in the order to run them: urgent describes first, then the pass from the cursor. */
  readonly units: readonly SliceUnit[];
  /** ECS reads a full pass takes (DescribeTasks batches + ListTasks pages, as last known). */
  readonly passReads: number;
  /** ECS reads the units are expected to take. */
  readonly plannedReads: number;
  /** Ticks a full pass takes at this budget (K). */
  readonly ticksPerPass: number;
  /** Distinct tasks the units describe (urgent ones included). */
  readonly tasks: number;
  /** Clusters the units list. */
  readonly clusters: number;
  /** True when the units cover the whole pass. */
  readonly wholePass: boolean;
}

/** Task id: the last segment of a task ARN. */
export const taskIdOf = (taskArn: string) => taskArn.slice(taskArn.lastIndexOf('/') + 1);

/** Orders positions as the pass walks them. */
export function comparePositions(a: SlicePosition, b: SlicePosition): number {
  if (a.cluster !== b.cluster) return a.cluster < b.cluster ? -1 : 1;
  if (a.task === b.task) return 0;
  return a.task < b.task ? -1 : 1;
}

/** ListTasks pages a cluster's listing is expected to take: as last seen, else one per 100 records. */
export function expectedListPages(cluster: SliceCluster): number {
  return cluster.listPages ?? Math.max(1, Math.ceil(cluster.taskArns.length / LIST_TASKS_PAGE));
}

type Item = { readonly cluster: SliceCluster; readonly position: SlicePosition; readonly taskArn?: string };

/**
 * Plans a tick's verification.
 *
 * @param input.budget ECS reads the tick may make (`Infinity`: the whole pass).
 * @param input.cursor where the last tick stopped; absent: from the start.
 * @example
 * const plan = planSlice({ clusters, budget: 10 * 30, cursor });
 */
export function planSlice(input: {
  readonly clusters: readonly SliceCluster[];
  readonly budget: number;
  readonly cursor?: SlicePosition;
}): SlicePlan {
  const clusters = [...input.clusters].sort((a, b) =>
    comparePositions({ cluster: a.name, task: '' }, { cluster: b.name, task: '' }),
  );
  const { items, passReads } = passOrder(clusters);
  const packing = packUrgent(clusters);
  const cursor = input.cursor;
  let start = cursor ? items.findIndex((item) => comparePositions(item.position, cursor) > 0) : 0;
  if (start < 0) start = 0;
  // Packs the whole pass, from the cursor, into ticks of `budget` reads: the first tick's units are
  // this tick's; the number of ticks is K (exact while the budget and the page counts hold).
  if (items.length > 0) packing.ticks = 1;
  for (let n = 0; n < items.length; n++) {
    const at = (start + n) % items.length;
    packItem(packing, items[at]!, at === 0, input.budget);
  }
  closeBatch(packing);

  const { units, described, plannedReads, covered, ticks } = packing;
  return {
    units,
    passReads,
    plannedReads,
    ticksPerPass: Math.max(1, ticks),
    tasks: described.size,
    clusters: units.filter((u) => u.kind === 'list').length,
    wholePass: covered === items.length,
  };
}

/** Every unit of work of a pass in position order, and the reads the whole pass costs. */
function passOrder(clusters: readonly SliceCluster[]): { items: Item[]; passReads: number } {
  const items: Item[] = [];
  let passReads = 0;
  for (const cluster of clusters) {
    const ids = cluster.taskArns
      .map((taskArn) => ({ taskArn, task: taskIdOf(taskArn) }))
      .sort((a, b) => (a.task < b.task ? -1 : a.task > b.task ? 1 : 0));
    for (const { taskArn, task } of ids) items.push({ cluster, taskArn, position: { cluster: cluster.name, task } });
    passReads += Math.ceil(ids.length / DESCRIBE_TASKS_BATCH);
    if (cluster.listed) {
      items.push({ cluster, position: { cluster: cluster.name, task: LIST_POSITION } });
      passReads += expectedListPages(cluster);
    }
  }
  return { items, passReads };
}

/** Where the packing of a pass into ticks stands; the first tick's units are this tick's plan. */
interface Packing {
  readonly units: SliceUnit[];
  readonly described: Set<string>;
  plannedReads: number;
  ticks: number;
  tickReads: number;
  tickUnits: number;
  covered: number;
  batch?: { cluster: SliceCluster; taskArns: string[]; position: SlicePosition };
}

/** Starts the packing with the urgent tasks, described first and outside the cursor's order. */
function packUrgent(clusters: readonly SliceCluster[]): Packing {
  const units: SliceUnit[] = [];
  let plannedReads = 0;
  const described = new Set<string>();
  for (const cluster of clusters) {
    const urgent = [...new Set(cluster.urgent ?? [])];
    for (let i = 0; i < urgent.length; i += DESCRIBE_TASKS_BATCH) {
      const taskArns = urgent.slice(i, i + DESCRIBE_TASKS_BATCH);
      units.push({ kind: 'describe', cluster: cluster.cluster, name: cluster.name, taskArns, reads: 1 });
      plannedReads++;
      for (const arn of taskArns) described.add(arn);
    }
  }
  return { units, described, plannedReads, ticks: 0, tickReads: plannedReads, tickUnits: 0, covered: 0 };
}

/** Adds one item to the current batch or tick, opening the next tick when the budget is spent. */
function packItem(p: Packing, item: Item, wrapsToStart: boolean, budget: number): void {
  // A wrap to the start of the order begins a new batch, so a batch's position is its furthest task.
  if (
    p.batch &&
    (p.batch.cluster !== item.cluster ||
      p.batch.taskArns.length >= DESCRIBE_TASKS_BATCH ||
      wrapsToStart ||
      !item.taskArn)
  )
    closeBatch(p);
  let cost = item.taskArn ? (p.batch ? 0 : 1) : expectedListPages(item.cluster);
  // A tick always takes its first unit, so a pass makes progress even when one unit exceeds the budget.
  if (cost > 0 && p.tickReads + cost > budget && p.tickUnits > 0) {
    closeBatch(p);
    p.ticks++;
    p.tickReads = 0;
    p.tickUnits = 0;
    if (item.taskArn) cost = 1;
  }
  p.tickReads += cost;
  if (p.ticks === 1) {
    p.plannedReads += cost;
    p.covered++;
  }
  if (item.taskArn) {
    if (!p.batch) {
      p.batch = { cluster: item.cluster, taskArns: [], position: item.position };
      p.tickUnits++;
    }
    p.batch.taskArns.push(item.taskArn);
    p.batch.position = item.position;
    if (p.ticks === 1) p.described.add(item.taskArn);
  } else {
    if (p.ticks === 1)
      p.units.push({
        kind: 'list',
        cluster: item.cluster.cluster,
        name: item.cluster.name,
        reads: cost,
        position: item.position,
      });
    p.tickUnits++;
  }
}

/** Ends the open describe batch; it is a unit of this tick's plan when it belongs to the first tick. */
function closeBatch(p: Packing): void {
  if (p.batch && p.ticks === 1)
    p.units.push({
      kind: 'describe',
      cluster: p.batch.cluster.cluster,
      name: p.batch.cluster.name,
      taskArns: p.batch.taskArns,
      reads: 1,
      position: p.batch.position,
    });
  p.batch = undefined;
}

/**
 * Follows a tick's run of its plan: which units finished, so the cursor moves only past work
 * done (a tick cut short resumes at the first unit it did not finish).
 */
export class SliceProgress {
  private readonly finished = new Set<SliceUnit>();

  constructor(
    readonly plan: SlicePlan,
    private readonly cursor?: SlicePosition,
  ) {}

  /** Marks a unit finished (answered, or failed and reported: a failing cluster must not stall the pass). */
  done(unit: SliceUnit): void {
    this.finished.add(unit);
  }

  /** Where the next tick starts: the last pass unit before the first one not finished. */
  nextCursor(): SlicePosition | undefined {
    let cursor = this.cursor;
    for (const unit of this.plan.units) {
      if (!unit.position) continue;
      if (!this.finished.has(unit)) break;
      cursor = unit.position;
    }
    return cursor;
  }

  /** Tasks and cluster listings of the plan not finished (left for the next tick). */
  left(): { tasks: number; clusters: number } {
    let tasks = 0;
    let clusters = 0;
    for (const unit of this.plan.units) {
      if (this.finished.has(unit)) continue;
      if (unit.kind === 'describe') tasks += unit.taskArns.length;
      else clusters++;
    }
    return { tasks, clusters };
  }
}
