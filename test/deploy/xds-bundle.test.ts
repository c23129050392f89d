/**
 * What the xDS container image runs (Dockerfile: `scripts/build-xds.mjs`, then
 * `node ecs-etcd-registrar.mjs xds`), built outside the repository and run by plain Node as a child
 * process: configured by the environment, it serves the registry to a grpc-js-xds client, answers
 * its health check, serves TLS when given a certificate, and exits cleanly on SIGTERM. The image
 * build itself (docker build) cannot run here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildXds } from '../../scripts/build-xds.mjs';
import { findFreePort } from '../kit/local-etcd';
import { callMany, check, startBackend, type Backend } from '../kit/local-grpc';
import { makeTestPki, type TestPki } from '../kit/tls';
import { xdsHealthClient } from '../kit/xds';
import { testEnv } from '../support/harness';

const dir = mkdtempSync(join(tmpdir(), 'xds-bundle-'));
let bundle: string;
let env: Record<string, string>;
let etcd: Etcd3;
let backend: Backend;
let pki: TestPki;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ({ file: bundle } = await buildXds(join(dir, 'image')));
  env = testEnv();
  etcd = new Etcd3({ hosts: env.ETCD_ENDPOINTS! });
  backend = await startBackend('bundle');
  const metadata = JSON.stringify({ availabilityZone: 'us-east-1a' });
  await etcd
    .put(`${env.REGISTRY_PREFIX}/echo/0123456789abcdef0123456789abcdef:${backend.port}`)
    .value(JSON.stringify({ Op: 0, Addr: backend.addr, Metadata: metadata }));
  pki = makeTestPki();
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await etcd?.delete().prefix(`${env.REGISTRY_PREFIX}/`);
  etcd?.close();
  await backend?.stop();
  rmSync(dir, { recursive: true, force: true });
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

/** Starts the bundle's `xds` command and waits for its "listening" line. */
async function startBundle(
  extra: Record<string, string>,
): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
  // Run outside the repository, as in the image: nothing but the bundle and envoy-protos/ beside it.
  const child = spawn(process.execPath, [bundle, 'xds', '--port', '0'], {
    cwd: dir,
    env: { PATH: process.env.PATH, ...env, ...extra },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`xds exited with ${code}: ${lines.join('\n')}`)));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      lines.push(line);
      const listening = /xds: listening on [^:]+:(\d+)/.exec(line);
      if (listening) resolve(Number(listening[1]));
    });
  });
  return { child, port, lines };
}

const exitOf = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', resolve));

describe('the xDS bundle of the container image', () => {
  it('serves the registry to a grpc-js-xds client, answers /healthz, and exits 0 on SIGTERM', async () => {
    const healthPort = await findFreePort();
    const { child, port, lines } = await startBundle({ XDS_HEALTH_PORT: String(healthPort) });
    const client = xdsHealthClient('echo', { server: `127.0.0.1:${port}`, zone: 'us-east-1a' });
    try {
      await check(client, { waitForReady: true, deadlineMs: 10_000 });
      const { byPeer, errors } = await callMany(client, 5);
      expect(errors).toEqual([]);
      expect(byPeer).toEqual(new Map([[backend.addr, 5]]));
      const health = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ serving: true, etcdDown: false, services: 1, endpoints: 1 });
    } finally {
      client.close();
    }
    const exited = exitOf(child);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(lines.some((l) => JSON.parse(l).message === 'xds: client connected')).toBe(true);
  });

  it('serves TLS with XDS_TLS_CERT_FILE / XDS_TLS_KEY_FILE, and names a bad variable with exit 3', async () => {
    const { child, port } = await startBundle({
      XDS_HEALTH_PORT: '0',
      XDS_TLS_CERT_FILE: pki.files.serverCert,
      XDS_TLS_KEY_FILE: pki.files.serverKey,
    });
    // The certificate names localhost too: an IP as TLS server name is deprecated in Node.
    const health = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(readFileSync(pki.files.ca)), {
      'grpc.ssl_target_name_override': 'localhost',
    });
    try {
      const checkHealth = () =>
        new Promise<Buffer>((resolve, reject) =>
          health.makeUnaryRequest(
            '/grpc.health.v1.Health/Check',
            (b: Buffer) => b,
            (b: Buffer) => b,
            Buffer.alloc(0),
            { deadline: Date.now() + 5000 },
            (err, value) => (err ? reject(err) : resolve(value!)),
          ),
        );
      // HealthCheckResponse { status: SERVING (1) } once the first read of etcd is done (NOT_SERVING, 2, before).
      await vi.waitFor(async () => expect([...(await checkHealth())]).toEqual([0x08, 1]), { timeout: 5000 });
    } finally {
      health.close();
    }
    const exited = exitOf(child);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const bad = spawn(process.execPath, [bundle, 'xds'], {
      cwd: dir,
      env: { PATH: process.env.PATH, ...env, XDS_TLS_CERT_FILE: pki.files.serverCert },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    bad.stderr!.on('data', (chunk) => (stderr += chunk));
    expect(await exitOf(bad)).toBe(3);
    expect(stderr).toBe(
      'configuration error: XDS_TLS_KEY_FILE: TLS needs both XDS_TLS_CERT_FILE and XDS_TLS_KEY_FILE\n',
    );
  });
});
