/**
 * Pure text output of the operator CLI: aligned tables for people. Scripts use `--json` instead,
 * whose shape is the data itself.
 */
import type { PlannedChange } from '../renew/summary';
import type { PortWarning, Problem } from './commands/check';
import type { ListRow } from './commands/ls';
import type { TaskView } from './commands/show';
import type { LeaseStatus } from './snapshot';

/**
 * Lays rows out in columns aligned on the widest cell, two spaces apart, headers first. The last
 * column is not padded, so no line ends in spaces.
 *
 * @example
 * formatTable(['A', 'B'], [['x', 'yy']]); // "A  B\nx  yy\n"
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[headers, ...rows].map(line).join('\n')}\n`;
}

/** A lease's remaining time for people: `172s`, or `-` when it has none. */
export function formatTtl(ttl: number | undefined): string {
  return ttl === undefined ? '-' : `${ttl}s`;
}

/** The `ls` table: SERVICE ADDRESS TASK STATE TTL, a problem shown after the state. */
export function formatList(rows: readonly ListRow[]): string {
  if (rows.length === 0) return 'nothing registered\n';
  return formatTable(
    ['SERVICE', 'ADDRESS', 'TASK', 'STATE', 'TTL'],
    rows.map((r) => [
      r.service ?? '-',
      r.address ?? '-',
      r.taskId ?? '-',
      r.problem ? `${r.state} (${r.problem})` : r.state,
      formatTtl(r.ttl),
    ]),
  );
}

/** The `check` report: one line per problem, or a line saying all is consistent. */
export function formatProblems(
  problems: readonly Problem[],
  counted: { readonly records: number; readonly keys: number; readonly tombstones: number },
): string {
  const scope = `${counted.records} records, ${counted.keys} endpoint keys, ${counted.tombstones} tombstones`;
  if (problems.length === 0) return `consistent: ${scope}\n`;
  return `${formatTable(
    ['PROBLEM', 'KEY', 'DETAIL'],
    problems.map((p) => [p.kind, p.key, p.message]),
  )}${problems.length} problem${problems.length === 1 ? '' : 's'} in ${scope}\n`;
}

/** `check`'s warnings (not problems: the exit code stays 0), one line each; nothing when there are none. */
export function formatWarnings(warnings: readonly PortWarning[]): string {
  return warnings.map((w) => `warning: ${w.taskArn}: ${w.message}\n`).join('');
}

/** The `diff` table: every change renew would make now. */
export function formatPlan(planned: readonly PlannedChange[]): string {
  if (planned.length === 0) return 'no changes: renew would only renew leases\n';
  return formatTable(
    ['ACTION', 'TASK', 'REASON'],
    planned.map((p) => [p.action, p.taskArn, p.reason]),
  );
}

/** A lease's state for people: its TTL left, expired, or why it is unknown. */
function leaseState(lease: LeaseStatus): string {
  if (lease.state === 'alive') return `TTL ${formatTtl(lease.ttl)}`;
  return lease.state === 'expired' ? 'expired' : `unknown (${lease.error})`;
}

/** The `show` report: the task, its record, tombstone, lease, keys and why. */
export function formatTaskView(view: TaskView): string {
  const r = view.record?.record;
  const t = view.tombstone;
  const lease = view.lease;
  const head = formatTable(
    ['FIELD', 'VALUE'],
    [
      ['task', view.taskArn ?? view.taskId],
      ['cluster', view.clusterName ?? '-'],
      ['record', r ? `${view.record!.key}: ${r.state}, version ${r.version}, updated ${r.updatedAt}` : 'none'],
      [
        'tombstone',
        t
          ? t.error
            ? `${t.key}: unreadable (${t.error})`
            : `${t.key}: stopped at ${t.stoppedAt}, version ${t.version}`
          : 'none',
      ],
      ['lease', lease ? `${lease.id}: ${leaseState(lease)}` : '-'],
      ['published', view.published ? 'yes' : 'no'],
    ],
  ).replace(/^FIELD\s+VALUE\n/, '');
  const keys =
    view.keys.length === 0
      ? 'keys: none\n'
      : formatTable(
          ['KEY', 'ADDRESS', 'IN RECORD', 'EXISTS', 'ON TASK LEASE'],
          view.keys.map((k) => [
            k.key,
            k.address ?? '-',
            yes(k.listed),
            yes(k.exists),
            k.exists ? yes(k.onTaskLease) : '-',
          ]),
        );
  return `${head}\n${keys}\nwhy:\n${view.why.map((w) => `  - ${w}`).join('\n')}\n`;
}

const yes = (b: boolean) => (b ? 'yes' : 'no');
