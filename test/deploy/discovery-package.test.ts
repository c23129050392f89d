/**
 * The discovery client as another project gets it: `npm pack` (whose prepack builds
 * dist/discovery with tsc and the operator CLI's bin with esbuild) makes the tarball; a temporary project installs it and, as plain Node,
 * dials a real grpc-js server through `registerEtcdResolver` against the real etcd, and type-checks
 * its use of `ecs-etcd-registrar/discovery` with the declarations the package ships.
 *
 * Offline: the tarball is unpacked into the project's node_modules and each dependency the built
 * client imports is linked from this repository's install, after checking the package declares it
 * (a full `npm install` of the tarball would fetch the registrar's own dependencies too).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KeyFormat, ValueFormat } from '../../lib/config';
import { endpointKey, endpointValue, type Endpoint } from '../../lib/keys';
import { startBackend, type Backend } from '../kit/local-grpc';

const run = promisify(execFile);
const metadata = {
  taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/c/t',
  cluster: 'c',
  taskDefinition: 'td:1',
  container: 'app',
  version: 3,
};
const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'registrar-discovery-package-'));
/** A copy of what `npm pack` reads, so the build writes nothing into the repository. */
const source = join(work, 'source');
const project = join(work, 'project');
const installed = join(project, 'node_modules', 'ecs-etcd-registrar');

/** Bare module names the built files import (`node:` built-ins left out). */
function bareImports(dir: string): Set<string> {
  const names = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'))) {
    // Comments out first: the TSDoc examples import the package by name.
    const code = readFileSync(join(dir, file), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const [, spec] of code.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      if (spec!.startsWith('.') || spec!.startsWith('node:') || builtinModules.includes(spec!)) continue;
      names.add(spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!);
    }
  }
  return names;
}

function link(name: string): void {
  const target = join(project, 'node_modules', name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(join(root, 'node_modules', name), target, 'dir');
}

let tarball: string;
let etcd: Etcd3;
let backend: Backend;

beforeAll(async () => {
  mkdirSync(source);
  for (const entry of [
    'package.json',
    'README.md',
    'LICENSE',
    'tsconfig.json',
    'tsconfig.discovery.json',
    'lib',
    'scripts',
    'build',
  ])
    cpSync(join(root, entry), join(source, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(source, 'node_modules'), 'dir');
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: source });
  tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);

  mkdirSync(join(project, 'node_modules'), { recursive: true });
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'discovery-user', private: true, type: 'module' }),
  );
  await run('tar', ['-xzf', tarball, '-C', join(project, 'node_modules')]);
  renameSync(join(project, 'node_modules', 'package'), installed);
  // What an install would put next to it; @types/node is the user's own, for the type check.
  for (const name of [...bareImports(join(installed, 'dist', 'discovery')), '@types/node']) link(name);

  etcd = new Etcd3({ hosts: inject('etcdEndpoint') });
  backend = await startBackend('packaged');
}, 120_000);
afterAll(async () => {
  etcd?.close();
  await backend?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('ecs-etcd-registrar/discovery, packed and installed in another project', () => {
  it('ships only the built client (with declarations) and the CLI bin, and declares every package the client imports', () => {
    const files = readdirSync(join(installed, 'dist', 'discovery')).sort();
    expect(files).toContain('index.js');
    expect(files).toContain('index.d.ts');
    expect(readdirSync(installed).sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json']);
    expect(readdirSync(join(installed, 'dist')).sort()).toEqual(['cli', 'discovery']);
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const imported = bareImports(join(installed, 'dist', 'discovery'));
    expect([...imported].sort()).toEqual(['@grpc/grpc-js', 'cockatiel', 'etcd3']);
    for (const name of imported) expect(Object.keys(manifest.dependencies), name).toContain(name);
  });

  it('dials through the resolver from plain Node, and exposes nothing but ./discovery', async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}/services`;
    const endpoint: Endpoint = {
      service: 'api',
      container: 'app',
      containerPort: 50051,
      ip: '127.0.0.1',
      port: backend.port,
    };
    await etcd
      .put(endpointKey({ registryPrefix: prefix, keyFormat: KeyFormat.Task }, 'task1', endpoint))
      .value(endpointValue(ValueFormat.EtcdNaming, endpoint, metadata));
    writeFileSync(
      join(project, 'main.mjs'),
      `import * as grpc from '@grpc/grpc-js';
import { parseEndpoint, registerEtcdResolver, roundRobin } from 'ecs-etcd-registrar/discovery';

const [hosts, target] = process.argv.slice(2);
registerEtcdResolver({ hosts });
const client = new grpc.Client(target, grpc.credentials.createInsecure(), roundRobin);
const hidden = await import('ecs-etcd-registrar/lib/registrar').then(() => 'importable', (err) => err.code);
const call = client.makeUnaryRequest('/grpc.health.v1.Health/Check', () => Buffer.alloc(0), (b) => b, {},
  new grpc.Metadata({ waitForReady: true }), { deadline: Date.now() + 10_000 }, (err) => {
    if (err) throw err;
    console.log(JSON.stringify({ peer: call.getPeer(), parsed: parseEndpoint('k', '10.0.0.1:80')?.addr, hidden }));
    client.close();
    process.exit(0);
  });
`,
    );
    const { stdout } = await run(process.execPath, ['main.mjs', inject('etcdEndpoint'), `etcd:///${prefix}/api`], {
      cwd: project,
      timeout: 20_000,
    });
    expect(JSON.parse(stdout)).toEqual({
      peer: backend.addr,
      parsed: '10.0.0.1:80',
      hidden: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
    expect(backend.calls).toBe(1);
  });

  it('type-checks a user of the package against the declarations it ships', async () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files: ['use.ts'],
      }),
    );
    writeFileSync(
      join(project, 'use.ts'),
      `import { Etcd3 } from 'etcd3';
import { discoveryClientOptions, parseEndpoint, registerEtcdResolver, roundRobin, watchService, type DiscoveredEndpoint, type EtcdWatchError } from 'ecs-etcd-registrar/discovery';

registerEtcdResolver({ hosts: 'http://10.0.1.5:2379' }, { scheme: 'etcd' });
const config: string = roundRobin['grpc.service_config'];
const found: DiscoveredEndpoint | undefined = parseEndpoint('services/api/t:1', '10.0.0.1:1');
const api = watchService(new Etcd3(discoveryClientOptions({ hosts: 'http://10.0.1.5:2379' })), 'services/api/', {
  onChange: (endpoints) => endpoints.map((e) => e.addr),
  onError: (err: EtcdWatchError) => err.retryable,
});
const addresses: readonly string[] = api.addresses();
// @ts-expect-error the declarations are real types, not any: a number is no etcd source
registerEtcdResolver(42);
export { addresses, config, found };
`,
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', project], { cwd: project }).then(
      () => 'ok',
      (err: { stdout: string }) => err.stdout,
    );
    expect(result).toBe('ok');
  });
});
