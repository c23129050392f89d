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
import { clientBootstrap } from '../../lib/xds/bootstrap';
import { PYTHON } from '../../scripts/ensure-python-grpc.mjs';
import { healthClient, type HealthClient } from './local-grpc';

xds.register();

/** grpc-js-xds's channel option for a per-channel bootstrap (one xDS client per channel). */
const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

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
