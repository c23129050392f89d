/**
 * The tested runtime is the one Lambda runs (nodejs22.x): `npm test` runs on the `node` package
 * installed as a dev dependency (npm puts node_modules/.bin first on PATH), whatever the system
 * Node is. Child processes find `node` on PATH (tsx, osls, the Go interop helpers' scripts) or use
 * `process.execPath` (the packaged bundles, the bench figures): both must be that Node.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const major = (version: string) => Number(/^v?(\d+)/.exec(version)?.[1]);
const required = major(pkg.engines.node.replace(/^>=\s*/, ''));

describe('the test runtime', () => {
  it('requires Node 22 and installs it as a dev dependency', () => {
    expect(pkg.engines.node).toBe('>=22');
    expect(major(pkg.devDependencies.node!.replace(/^\D+/, ''))).toBe(22);
  });

  it('runs the tests on the Node the engines field requires', () => {
    expect(major(process.version)).toBeGreaterThanOrEqual(required);
  });

  it('gives child processes that run `node` from PATH the same Node', () => {
    const child = spawnSync('node', ['-p', 'process.version'], { encoding: 'utf8' });
    expect(child.stdout.trim()).toBe(process.version);
  });
});
