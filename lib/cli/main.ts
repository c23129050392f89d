/**
 * The operator CLI: `ls`, `diff`, `show` and `check` over what the registrar keeps in etcd. It is
 * configured by the same environment variables as the functions (`lib/config.ts`) and reads etcd
 * with the same client; `diff` also reads ECS through the AWS SDK's own configuration. Output is an
 * aligned table for people, or JSON with `--json`.
 */
import { Command, CommanderError } from 'commander';
import { GRPCUnavailableError, type Etcd3 } from 'etcd3';
import { loadConfig, withRegistryPrefix, type Config } from '../config';
import { ConfigError, DependencyError, errorMessage } from '../errors';
import { createEtcdClient, diagnoseTls } from '../etcd/client';
import { credentialsFromEnv, type EtcdCredentials } from '../etcd/credentials';
import { adoptionWarning, claimNamespace } from '../etcd/ownership';
import { etcdCall } from '../etcd/operations';
import { Registry } from '../etcd/registry';
import type { Log } from '../log';
import { formatList, formatPlan, formatProblems, formatTaskView, formatWarnings } from './format';
import { checkSnapshot, persistentProblems, portWarnings, type Problem } from './commands/check';
import { dryRunRenew } from './commands/diff';
import { listRows } from './commands/ls';
import { taskLeases, viewTask } from './commands/show';
import { readLeases, readSnapshot, type LeaseTable, type Snapshot } from './snapshot';
import { loadEc2 } from '../ecs/ec2-loader';

/** The CLI's exit codes. */
export const ExitCode = {
  /** Done; `check` found the registry consistent; `show`'s task is published. */
  Ok: 0,
  /** `check` found problems; `show`'s task is not published. */
  NotOk: 1,
  /** Bad command line. */
  Usage: 2,
  /** Bad configuration: the message names the variable. */
  Config: 3,
  /** etcd (or the store holding its credentials) could not be read. */
  Etcd: 4,
  /** `diff`: ECS could not be read for some cluster, so the plan is partial. */
  Ecs: 5,
  /** A bug: an error nobody expected. */
  Internal: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Where the CLI reads its configuration from and writes its output to. */
export interface CliIo {
  /**
   * The environment the registrar's variables are read from (`process.env` for the real command).
   * The AWS SDK (`diff`, credentials in Secrets Manager or SSM) reads its own from `process.env`.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const HELP_AFTER = `
Configuration: the functions' environment variables (ETCD_ENDPOINTS, REGISTRY_PREFIX, STATE_PREFIX,
ETCD_TIMEOUT_MS, ETCD_USERNAME/ETCD_PASSWORD, ETCD_CA_FILE/ETCD_CERT_FILE/ETCD_KEY_FILE,
ETCD_SECRET_ID or ETCD_SSM_PARAMETER, ...); diff also reads ECS with the AWS SDK's (AWS_REGION, AWS_PROFILE, ...);
xds also XDS_PORT, XDS_HOST, XDS_TLS_CERT_FILE/XDS_TLS_KEY_FILE/XDS_TLS_CLIENT_CA_FILE.

Exit codes: 0 ok (check: consistent; show: published), 1 check found problems / show: not published,
2 bad command line, 3 bad configuration, 4 etcd unreachable or refused, 5 ECS failed (diff is partial),
70 unexpected error.`;

/** A connection to etcd built from the environment. */
interface Connection {
  readonly config: Config;
  readonly credentials?: EtcdCredentials;
  readonly client: Etcd3;
  readonly registry: Registry;
}

async function credentialsFor(config: Config, env: CliIo['env']): Promise<EtcdCredentials | undefined> {
  const source = config.etcdCredentials;
  if (source.kind === 'none') return undefined;
  if (source.kind === 'env') return credentialsFromEnv(source, env);
  // Secrets Manager / SSM: the functions' own reader (Powertools Parameters).
  const { resolveEtcdCredentials } = await import('../etcd/credential-sources');
  return resolveEtcdCredentials(source);
}

const silent: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/**
 * Runs the consistency check; a problem counts only if a second read a moment later shows it too,
 * so a task registering or stopping during the check is not reported.
 */
async function stableProblems(conn: Connection): Promise<{ snapshot: Snapshot; problems: Problem[] }> {
  const once = async () => {
    const snapshot = await readSnapshot(conn.registry, conn.config);
    const leases: LeaseTable = await readLeases(
      conn.client,
      snapshot.records.map((s) => s.lease),
    );
    return { snapshot, problems: checkSnapshot(snapshot, leases) };
  };
  const first = await once();
  if (first.problems.length === 0) return first;
  const second = await once();
  return { snapshot: second.snapshot, problems: persistentProblems(first.problems, second.problems) };
}

/**
 * Runs the CLI with `argv` (the arguments after the program name) and returns the exit code.
 * Never throws: every failure is written to `stderr` and mapped to an {@link ExitCode}.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), {
 *   env: process.env,
 *   stdout: (s) => process.stdout.write(s),
 *   stderr: (s) => process.stderr.write(s),
 * });
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const run: Run = { io, code: ExitCode.Ok };
  try {
    await commandLine(run).parseAsync([...argv], { from: 'user' });
    return run.code;
  } catch (err) {
    return await failure(err, run.conn, io);
  } finally {
    run.conn?.client.close();
  }
}

/** One run of the CLI: its I/O, the etcd connection once a command opened it, the exit code so far. */
interface Run {
  readonly io: CliIo;
  conn?: Connection;
  code: ExitCode;
}

/** The commands and their options, each calling its action with the run. */
function commandLine(run: Run): Command {
  const { io } = run;
  const program = new Command('ecs-etcd-registrar')
    .description('Inspect what the registrar keeps in etcd: endpoints, task records, tombstones, leases.')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', HELP_AFTER);
  program
    .command('ls')
    .description(
      'list endpoints and tasks: service, address, task, state, lease TTL left (tasks that publish nothing too)',
    )
    .argument('[service]', 'only this service')
    .option('--json', 'print JSON for scripts')
    .action((service: string | undefined, options: { json?: boolean }) => runLs(run, service, options));
  program
    .command('diff')
    .description("what renew would change now (renew's own dry run: reads etcd and ECS, writes nothing)")
    .option('--json', 'print JSON for scripts')
    .action((options: { json?: boolean }) => runDiff(run, options));
  program
    .command('show')
    .description('everything about one task: record, tombstone, keys, lease, and why it is or is not published')
    .argument('<task>', 'task ARN or task ID')
    .option('--json', 'print JSON for scripts')
    .action((task: string, options: { json?: boolean }) => runShow(run, task, options));
  program
    .command('check')
    .description('keys, records and leases consistent: exits 1 listing every problem when not')
    .option('--json', 'print JSON for scripts')
    .action((options: { json?: boolean }) => runCheck(run, options));
  const xds = program
    .command('xds')
    .description('serve the registry to proxyless gRPC clients over xDS (ADS, v3) until SIGTERM or SIGINT')
    .option('--port <n>', 'port to listen on (default: XDS_PORT, else 18000)')
    .action((options: { port?: string }) => runXds(run, options));
  xds
    .command('bootstrap')
    .description("print the bootstrap file a client's GRPC_XDS_BOOTSTRAP names")
    .requiredOption('--server <host:port>', "the xDS server's address (e.g. its load balancer's DNS name and port)")
    .option('--zone <zone>', "the client's Availability Zone (e.g. us-east-1a): calls prefer it")
    .option('--node-id <id>', 'the node id the server logs')
    .option('--tls', 'connect to the server with TLS')
    .action((options: { server: string; zone?: string; nodeId?: string; tls?: boolean }) => runBootstrap(run, options));
  return program;
}

/** Opens the run's etcd connection once, in the namespace this deployment reads. */
async function connect(run: Run): Promise<Connection> {
  if (run.conn) return run.conn;
  const { io } = run;
  const config = loadConfig(io.env);
  const credentials = await credentialsFor(config, io.env);
  const client = createEtcdClient(config, credentials);
  run.conn = { config, credentials, client, registry: new Registry(client, config) };
  // The CLI reads one deployment's namespace: refuse one another deployment owns (it never
  // claims), and read the directory the deployment runs with (one it adopted, if any).
  const owned = await claimNamespace({ client, config, call: etcdCall }, { verifyOnly: true });
  if (owned.adopted) io.stderr(`warning: ${adoptionWarning(config, owned.registryPrefix)}\n`);
  const settled = withRegistryPrefix(config, owned.registryPrefix);
  run.conn = { ...run.conn, config: settled, registry: new Registry(client, settled) };
  return run.conn;
}

async function runLs(run: Run, service: string | undefined, options: { json?: boolean }): Promise<void> {
  const { io } = run;
  const { registry, client, config } = await connect(run);
  const snapshot = await readSnapshot(registry, config);
  // TTLs cost a round trip per lease: read them only for the rows shown.
  const shown = listRows(snapshot, new Map(), { service }).flatMap((r) => (r.leaseId ? [r.leaseId] : []));
  const rows = listRows(snapshot, await readLeases(client, shown, { ttl: true }), { service });
  if (options.json) return io.stdout(json({ revision: snapshot.revision, rows }));
  io.stdout(
    rows.length === 0 && service !== undefined ? `nothing registered for service ${service}\n` : formatList(rows),
  );
  const keyless = snapshot.records.filter((s) => s.record.keys.length === 0).length;
  if (service !== undefined && keyless > 0)
    io.stdout(
      `(${keyless} task${keyless === 1 ? '' : 's'} publishing nothing (pending, withdrawn, empty) not shown: ` +
        'a service is known once published; run ls without a service)\n',
    );
}

async function runDiff(run: Run, options: { json?: boolean }): Promise<void> {
  const { io } = run;
  const { config, client, registry } = await connect(run);
  const [{ Registrar }, { AwsEcsReader }] = await Promise.all([import('../registrar'), import('../ecs/api')]);
  const plan = await dryRunRenew(
    new Registrar({
      config,
      etcd: client,
      registry,
      ecs: new AwsEcsReader(undefined, { ec2: loadEc2 }),
      log: silent,
    }),
  );
  if (options.json) io.stdout(json(plan));
  else {
    io.stdout(formatPlan(plan.planned));
    for (const f of plan.failures) io.stdout(`cannot decide ${f.taskArn}: ${f.error}\n`);
  }
  for (const f of plan.ecsFailures)
    io.stderr(
      `ECS failed for cluster ${f.cluster}: ${f.error} (renew would change nothing there: the plan is partial)\n`,
    );
  if (plan.ecsFailures.length > 0) run.code = ExitCode.Ecs;
}

async function runShow(run: Run, task: string, options: { json?: boolean }): Promise<void> {
  const { registry, client, config } = await connect(run);
  const snapshot = await readSnapshot(registry, config);
  const view = viewTask(snapshot, await readLeases(client, taskLeases(snapshot, task), { ttl: true }), task);
  run.io.stdout(options.json ? json(view) : formatTaskView(view));
  if (!view.published) run.code = ExitCode.NotOk;
}

async function runCheck(run: Run, options: { json?: boolean }): Promise<void> {
  const { snapshot, problems } = await stableProblems(await connect(run));
  const counted = {
    records: snapshot.records.length + snapshot.invalidRecords.length,
    keys: snapshot.endpoints.length,
    tombstones: snapshot.tombstones.length,
  };
  const warnings = portWarnings(snapshot);
  run.io.stdout(
    options.json
      ? json({ consistent: problems.length === 0, ...counted, problems, warnings })
      : formatProblems(problems, counted) + formatWarnings(warnings),
  );
  if (problems.length > 0) run.code = ExitCode.NotOk;
}

async function runXds(run: Run, options: { port?: string }): Promise<void> {
  const { io } = run;
  const config = loadConfig(io.env);
  const { serveXds } = await import('../xds/command');
  const served = await serveXds({
    config,
    env: io.env,
    credentials: await credentialsFor(config, io.env),
    ...options,
    stderr: io.stderr,
  });
  if (!served) run.code = ExitCode.Usage;
}

async function runBootstrap(
  run: Run,
  options: { server: string; zone?: string; nodeId?: string; tls?: boolean },
): Promise<void> {
  const { bootstrapJson } = await import('../xds/command');
  try {
    run.io.stdout(bootstrapJson(options));
  } catch (err) {
    run.io.stderr(`${errorMessage(err)}\n`);
    run.code = ExitCode.Usage;
  }
}

/** Reports a failure on stderr and picks its exit code. */
async function failure(err: unknown, conn: Connection | undefined, io: CliIo): Promise<ExitCode> {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0; commander has printed what it had to.
    return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  }
  if (err instanceof ConfigError) {
    io.stderr(`configuration error: ${err.message}\n`);
    return ExitCode.Config;
  }
  if (err instanceof DependencyError && (err.dependency === 'etcd' || err.dependency === 'secrets')) {
    // grpc-js reports a TLS failure as plain "unavailable": find out what failed before saying so.
    const diagnosis = conn && isUnavailable(err) ? await diagnoseTls(conn.config, conn.credentials) : undefined;
    const where = conn ? ` at ${conn.config.etcdEndpoints.join(', ')}` : '';
    io.stderr(
      err.dependency === 'etcd'
        ? `cannot read etcd${where}: ${diagnosis ?? err.message}\n`
        : `cannot read the etcd credentials: ${err.message}\n`,
    );
    return ExitCode.Etcd;
  }
  if (err instanceof DependencyError) {
    io.stderr(`${err.message}\n`);
    return ExitCode.Ecs;
  }
  io.stderr(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}\n`);
  return ExitCode.Internal;
}

const isUnavailable = (err: DependencyError) => err.cause instanceof GRPCUnavailableError;
