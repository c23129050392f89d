/**
 * The operator CLI against real etcd and the local ECS endpoint: tasks registered through the
 * registrar, then `ls`, `show`, `diff` and `check` run in-process through `runCli` (and once as the
 * built bin in a child process), their tables, JSON and exit codes checked.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, runCli } from '../../lib/cli/main';
import { deregisterTask } from '../../lib/deregister';
import { parseTaskStateChange } from '../../lib/ecs/event';
import { buildCli } from '../../scripts/build-cli.mjs';
import { createHarness, type Harness } from '../support/harness';
import { loadEvent } from '../kit/events';
import { CLUSTER_ARN, fargateEvent, transition } from '../kit/events';
import { renewTasks } from '../../lib/renew/run';

type Json = Record<string, any>;

let h: Harness;
let env: Record<string, string>;
const running = [fargateEvent(1), fargateEvent(2), fargateEvent(3)];
let pending: Json;
const idOf = (event: Json) => (event.detail.taskArn as string).split('/').pop()!;

/** Runs the CLI in this process and returns its exit code and output. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { env, stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err };
}

beforeAll(async () => {
  h = await createHarness();
  env = {
    ETCD_ENDPOINTS: h.config.etcdEndpoints.join(','),
    REGISTRY_PREFIX: h.config.registryPrefix,
    STATE_PREFIX: h.config.statePrefix,
    ...h.aws.sdkEnv(),
  };
  for (const event of running) {
    h.aws.putTaskFromDetail(event.detail);
    await h.registrar.register(parseTaskStateChange(event).task);
  }
  // A health-checked task ECS has not reported HEALTHY yet: recorded pending, nothing published.
  const stopped = loadEvent('fargate-stopped-essential-container-exited-fivexl');
  const containers = stopped.detail.containers.map(({ exitCode: _, ...c }: Json) => ({ ...c, lastStatus: 'RUNNING' }));
  pending = transition(stopped, 3, 'RUNNING', 'RUNNING', {
    containers,
    stoppedAt: undefined,
    stopCode: undefined,
    stoppingAt: undefined,
  });
  h.aws.putTaskFromDetail(pending.detail);
  expect(await h.registrar.register(parseTaskStateChange(pending).task)).toMatchObject({ action: 'pending' });
});
afterAll(async () => h.close());

describe('on a consistent registry', () => {
  it('ls prints an aligned table of every endpoint and the pending task, with lease TTLs', async () => {
    const { code, out } = await cli('ls');
    expect(code).toBe(ExitCode.Ok);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SERVICE\s+ADDRESS\s+TASK\s+STATE\s+TTL$/);
    expect(lines).toHaveLength(5);
    for (const [i, event] of running.entries()) {
      const cells = lines[i + 1]!.split(/\s{2,}/);
      expect(cells.slice(0, 4)).toEqual([
        'sample-fargate',
        `10.0.0.${i + 1}:${cells[1]!.split(':')[1]}`,
        idOf(event),
        'registered',
      ]);
      expect(Number(cells[4]!.replace(/s$/, ''))).toBeGreaterThan(0);
      // Columns are aligned: every cell of a column starts where its header does.
      expect(lines[i + 1]!.indexOf(idOf(event))).toBe(lines[0]!.indexOf('TASK'));
    }
    expect(lines[4]!.split(/\s{2,}/).slice(0, 4)).toEqual(['-', '-', idOf(pending), 'pending']);
  });

  it('ls --json gives scripts the same rows, and ls <service> only that service', async () => {
    const { code, out } = await cli('ls', '--json');
    expect(code).toBe(ExitCode.Ok);
    const { rows } = JSON.parse(out) as { rows: Json[] };
    expect(rows.map((r) => [r.service, r.taskArn, r.state])).toEqual([
      ...running.map((e) => ['sample-fargate', e.detail.taskArn, 'registered']),
      [undefined, pending.detail.taskArn, 'pending'],
    ]);
    const one = await cli('ls', 'sample-fargate');
    expect(one.out.trimEnd().split('\n')).toHaveLength(4 + 1); // header, 3 endpoints, the note about the pending task
    expect(one.out).toContain('1 task publishing nothing (pending, withdrawn, empty) not shown');
    expect((await cli('ls', 'nope')).out).toMatch(/^nothing registered for service nope\n/);
  });

  it('show explains a published task (exit 0) and a pending one (exit 1)', async () => {
    const published = await cli('show', running[0]!.detail.taskArn);
    expect(published.code).toBe(ExitCode.Ok);
    expect(published.out).toMatch(/^published\s+yes$/m);
    expect(published.out).toMatch(/^lease\s+\d+: TTL \d+s$/m);
    expect(published.out).toMatch(/- published: 1 of 1 keys on lease \d+ \(TTL \d+ s\), version \d+$/m);

    const waiting = await cli('show', idOf(pending), '--json');
    expect(waiting.code).toBe(ExitCode.NotOk);
    expect(JSON.parse(waiting.out)).toMatchObject({
      published: false,
      record: { record: { state: 'pending' } },
      why: [
        'pending: waiting for ECS to report HEALTHY (health-checked containers: app)',
        expect.stringMatching(/^port app:\d+ → \S+ \(only-port\): the only candidate TCP port/),
      ],
    });
  });

  it('check exits 0 and counts what it checked', async () => {
    const { code, out } = await cli('check');
    expect({ code, out }).toEqual({ code: ExitCode.Ok, out: 'consistent: 4 records, 3 endpoint keys, 0 tombstones\n' });
  });

  it("diff prints exactly renew's plan and writes nothing", async () => {
    h.aws.tasks.delete(running[2]!.detail.taskArn); // gone from ECS: renew would mark it (and remove it a tick later)
    h.aws.updateTask(pending.detail.taskArn, { healthStatus: 'HEALTHY' }); // renew would publish it
    const before = await h.revisions();
    const { code, out } = await cli('diff', '--json');
    expect(code).toBe(ExitCode.Ok);
    const plan = JSON.parse(out);
    expect(plan.planned).toEqual((await renewTasks(h.registrar, { dryRun: true })).planned);
    expect(plan.planned.map((p: Json) => [p.action, p.taskArn])).toEqual(
      expect.arrayContaining([
        ['mark-missing', running[2]!.detail.taskArn],
        ['register', pending.detail.taskArn],
      ]),
    );
    expect(plan.planned).toHaveLength(2);
    const table = await cli('diff');
    expect(table.out).toMatch(/^ACTION\s+TASK\s+REASON\n/);
    expect(table.out).toContain('ECS answers MISSING and ListTasks does not list the task');
    expect(await h.revisions()).toEqual(before);
    // Put ECS back as it was for the tests below.
    h.aws.putTaskFromDetail(running[2]!.detail);
    h.aws.updateTask(pending.detail.taskArn, { healthStatus: 'UNKNOWN' });
  });
});

describe('diff when ECS fails', () => {
  it('says the plan is partial, naming the cluster, with exit 5', async () => {
    h.aws.faults.set('DescribeTasks', { code: 'AccessDeniedException' });
    try {
      const { code, out, err } = await cli('diff');
      expect(code).toBe(ExitCode.Ecs);
      expect(out).toBe('no changes: renew would only renew leases\n');
      expect(err).toMatch(
        /^ECS failed for cluster arn:aws:ecs:us-west-2:111122223333:cluster\/FargateCluster: .*AccessDeniedException.* \(renew would change nothing there: the plan is partial\)$/m,
      );
    } finally {
      h.aws.faults.delete('DescribeTasks');
    }
  });
});

describe('on a broken registry', () => {
  it('check exits 1 listing an orphan key and a record key that was deleted; show says which key is missing', async () => {
    const orphan = `${h.config.registryPrefix}/sample-fargate/ghost:9`;
    await h.etcd.put(orphan).value('10.9.9.9:9');
    const [deleted] = (await h.registry.readTask({ clusterArn: CLUSTER_ARN, taskId: idOf(running[1]!) })).record!.record
      .keys;
    await h.etcd.delete().key(deleted!);

    const { code, out } = await cli('check');
    expect(code).toBe(ExitCode.NotOk);
    expect(out).toMatch(
      new RegExp(
        `^key-missing\\s+${deleted}\\s+listed by the record of ${running[1]!.detail.taskArn} but absent$`,
        'm',
      ),
    );
    expect(out).toMatch(
      new RegExp(`^orphan-key\\s+${orphan}\\s+endpoint key on no lease that no task record owns$`, 'm'),
    );
    expect(out).toMatch(/^2 problems in 4 records, 3 endpoint keys, 0 tombstones$/m);

    const show = await cli('show', running[1]!.detail.taskArn);
    expect(show.code).toBe(ExitCode.NotOk);
    expect(show.out).toContain(`- keys missing: ${deleted} (listed in the record, absent in etcd)`);
    await h.etcd.delete().key(orphan);
  });

  it('the built bin, run as a child process, reports the same problem as JSON with exit 1', async () => {
    // Built outside the repository: no node_modules above it, so the bin runs on its own, as installed.
    const dir = mkdtempSync(join(tmpdir(), 'cli-bin-'));
    try {
      const { file } = await buildCli(dir);
      const run = await promisify(execFile)(process.execPath, [file, 'check', '--json'], { env }).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
      );
      expect(run.code).toBe(ExitCode.NotOk);
      const report = JSON.parse(run.stdout);
      expect(report).toMatchObject({ consistent: false, records: 4, keys: 2, tombstones: 0 });
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: 'key-missing', taskArn: running[1]!.detail.taskArn }),
      ]);
      // The bin is the etcd client only: `xds` says where it runs instead (a clone, the image).
      const xds = await promisify(execFile)(process.execPath, [file, 'xds', '--port', '0'], { env }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
      expect(xds.code).toBe(ExitCode.Usage);
      expect(xds.stderr).toMatch(/^xds is not available in this build: .*from the container image/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('show explains a stopped task by its tombstone', async () => {
    const event = running[0]!;
    await deregisterTask(h.registry, {
      ...parseTaskStateChange(event).task,
      version: 5,
      stoppedAt: '2026-03-01T10:00:00.000Z',
    });
    const { code, out } = await cli('show', idOf(event));
    expect(code).toBe(ExitCode.NotOk);
    expect(out).toContain('- tombstoned: stopped at 2026-03-01T10:00:00.000Z, version 5;');
    expect(out).toMatch(/^record\s+none$/m);
  });
});

describe('errors', () => {
  it('a bad variable is named, with exit 3', async () => {
    const saved = env;
    env = { ...env, LEASE_TTL_SECONDS: 'soon' };
    try {
      expect(await cli('ls')).toEqual({
        code: ExitCode.Config,
        out: '',
        err: 'configuration error: LEASE_TTL_SECONDS: expected a whole number from 180 to 86400, got "soon"\n',
      });
    } finally {
      env = saved;
    }
  });

  it('an unreachable etcd says so, with exit 4', async () => {
    const saved = env;
    env = { ...env, ETCD_ENDPOINTS: 'http://127.0.0.1:9', ETCD_TIMEOUT_MS: '1000' };
    try {
      const { code, err } = await cli('check');
      expect(code).toBe(ExitCode.Etcd);
      expect(err).toMatch(/^cannot read etcd at http:\/\/127\.0\.0\.1:9: .*unavailable/);
    } finally {
      env = saved;
    }
  });

  it('a bad command line gets usage help and exit 2', async () => {
    const { code, err } = await cli('show');
    expect(code).toBe(ExitCode.Usage);
    expect(err).toContain("missing required argument 'task'");
  });
});
