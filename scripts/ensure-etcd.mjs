#!/usr/bin/env node
// Makes sure an etcd server binary is available for the tests, the demo and the benchmarks.
// A fresh machine has only Node and npm: on Debian, as root, install Debian's etcd-server.
import { execFileSync, spawnSync } from 'node:child_process';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

// openssl makes the TLS test certificates.
const missing = [
  ...(process.env.ETCD_BIN || has('etcd') ? [] : ['etcd-server']),
  ...(has('openssl') ? [] : ['openssl']),
];
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!has('apt-get') || !isRoot) {
  console.error(
    `missing: ${missing.join(', ')}. Install an etcd 3.4+ server binary (Debian: \`sudo apt-get install etcd-server openssl\`) ` +
      'or point ETCD_BIN at one, then run this command again.',
  );
  process.exit(1);
}
console.error(`installing Debian packages: ${missing.join(' ')} ...`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
if (!has('etcd') && !process.env.ETCD_BIN) {
  console.error('etcd-server was installed but `etcd` is still not on PATH');
  process.exit(1);
}
