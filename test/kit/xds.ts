/**
 * Proxyless gRPC clients of the xDS server for the tests and the benchmark: grpc-js-xds channels
 * (each with its own bootstrap, so clients of different zones share one process) and a Python
 * grpcio client (gRPC C-core) driven over stdin.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as xds from '@grpc/grpc-js-xds';
import type { Etcd3 } from 'etcd3';
import { discoveryFaultHandling } from '../../lib/discovery/client-options';
import { createEtcdClient } from '../../lib/etcd/client';
import { clientBootstrap } from '../../lib/xds/bootstrap';
import { startXdsServer, type XdsServer, type XdsServerOptions } from '../../lib/xds/server';
import { PYTHON } from '../../scripts/ensure-python-grpc.mjs';
import { registerTask, type Handlers } from './handlers';
import type { FleetTask, LocalFleet } from './local-fleet';
import { healthClient, startBackend, type Backend, type HealthClient } from './local-grpc';

xds.register();

/** grpc-js-xds's channel option for a per-channel bootstrap (one xDS client per channel). */
const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

/** The etcd client an xDS server of the tests watches with: the discovery client's fault handling, as `xds` runs. */
export function xdsWatchClient(etcdEndpoint: string): Etcd3 {
  return createEtcdClient({ etcdEndpoints: [etcdEndpoint], etcdTimeoutMs: 2000 }, undefined, {
    faultHandling: discoveryFaultHandling(),
  });
}

/** An xDS server on 127.0.0.1 (`port` 0: any free one), once it serves its first read of etcd. */
export async function startReadyXds(
  options: Omit<XdsServerOptions, 'host' | 'port'> & { port?: number },
): Promise<XdsServer> {
  const server = await startXdsServer({ port: 0, ...options, host: '127.0.0.1' });
  await server.ready();
  return server;
}

/** A task of the tests' xDS fleets: its fleet task and the server standing in for it. */
export interface ZonedTask {
  readonly task: FleetTask;
  readonly server: Backend;
}

/**
 * Starts `count` servers as tasks of `service` in `zone` and registers each through the register
 * handler; every server is added to `backends` (for the caller to stop).
 */
export async function startZonedTasks(
  rig: { readonly handlers: Handlers; readonly fleet: LocalFleet; readonly backends: Backend[] },
  service: string,
  count: number,
  zone: string,
): Promise<ZonedTask[]> {
  const started: ZonedTask[] = [];
  for (let i = 1; i <= count; i++) {
    const backend = await startBackend(`${service}-${zone}-${i}`);
    rig.backends.push(backend);
    const { task } = await registerTask(rig.handlers, rig.fleet, service, backend.port, { availabilityZone: zone });
    started.push({ task, server: backend });
  }
  return started;
}

/** A Health client of `xds:///<service>` whose bootstrap names `server` and, if given, the client's zone. */
export function xdsHealthClient(
  service: string,
  options: { server: string; zone?: string; nodeId?: string },
): HealthClient {
  const bootstrap = clientBootstrap({
    server: options.server,
    zone: options.zone,
    nodeId: options.nodeId ?? `node-${service}`,
  });
  return healthClient(`xds:///${service}`, { [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap) });
}

/** What one batch of Python calls returned. */
export interface PythonCalls {
  readonly ok: number;
  readonly errors: readonly string[];
}

/** A Python grpcio process calling through xDS. */
export interface PythonXdsClient {
  /** `count` sequential Health/Check calls to `xds:///<service>`. */
  call(
    service: string,
    count: number,
    options?: { waitForReady?: boolean; timeoutSeconds?: number },
  ): Promise<PythonCalls>;
  stop(): Promise<void>;
}

/** Starts `/usr/bin/python3 test/interop/python-xds/client.py` with its own bootstrap file. */
export async function startPythonXdsClient(options: {
  server: string;
  zone?: string;
  nodeId?: string;
}): Promise<PythonXdsClient> {
  const dir = mkdtempSync(join(tmpdir(), 'xds-python-'));
  const bootstrapFile = join(dir, 'bootstrap.json');
  writeFileSync(
    bootstrapFile,
    JSON.stringify(clientBootstrap({ server: options.server, zone: options.zone, nodeId: options.nodeId ?? 'python' })),
  );
  const child: ChildProcessWithoutNullStreams = spawn(
    PYTHON,
    [join(import.meta.dirname, '..', 'interop', 'python-xds', 'client.py')],
    {
      env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrapFile, GRPC_VERBOSITY: process.env.GRPC_VERBOSITY ?? 'ERROR' },
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const failOnExit = () => reject(new Error(`the Python client exited: ${stderr.slice(-2000)}`));
      child.once('exit', failOnExit);
      waiting.push((line) => {
        child.off('exit', failOnExit);
        resolve(JSON.parse(line) as Record<string, unknown>);
      });
    });
  await next();
  return {
    call: async (service, count, callOptions = {}) => {
      const answer = next();
      child.stdin.write(
        `${JSON.stringify({ cmd: 'call', service, count, wait_for_ready: callOptions.waitForReady ?? false, timeout: callOptions.timeoutSeconds ?? 2 })}\n`,
      );
      return (await answer) as unknown as PythonCalls;
    },
    stop: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
