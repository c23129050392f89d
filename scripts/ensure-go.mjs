#!/usr/bin/env node
// Makes sure the Go interop test can build etcd's own Go resolver client: the Go toolchain and
// Debian's packaged sources of etcd 3.4's clientv3 (with its naming resolver) and grpc-go, built
// offline from /usr/share/gocode. On Debian, as root, installs what is missing. Never fails: where
// nothing can be installed it says so loudly, and the interop test skips (or fails, when
// INTEROP_REQUIRED is set).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** Debian packages the interop test builds from. */
export const GO_PACKAGES = ['golang-go', 'golang-etcd-server-dev', 'golang-google-grpc-dev'];
/** Where Debian installs Go sources (a GOPATH entry). */
export const GOCODE = '/usr/share/gocode';
const NEEDED = [
  `${GOCODE}/src/go.etcd.io/etcd/clientv3/naming/resolver/resolver.go`,
  `${GOCODE}/src/google.golang.org/grpc/health/grpc_health_v1/health.pb.go`,
];

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Why the Go interop test cannot run here, or undefined when it can. */
export function goInteropMissing() {
  if (!has('go')) return 'the Go toolchain (`go`) is not installed';
  const absent = NEEDED.filter((path) => !existsSync(path));
  return absent.length > 0 ? `Go sources missing: ${absent.join(', ')}` : undefined;
}

function loud(message) {
  const bar = '!'.repeat(100);
  console.error(`\n${bar}\n${message}\n${bar}\n`);
}

function ensure() {
  const missing = goInteropMissing();
  if (!missing) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!has('apt-get') || !isRoot) {
    loud(
      `GO INTEROP TEST WILL BE SKIPPED: ${missing}, and this machine cannot install it (${has('apt-get') ? 'not root' : 'no apt-get'}).\n` +
        `Install the Debian packages ${GO_PACKAGES.join(' ')} (e.g. sudo apt-get install ${GO_PACKAGES.join(' ')}) to run it.`,
    );
    return;
  }
  console.error(`${missing}: installing Debian packages ${GO_PACKAGES.join(' ')} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...GO_PACKAGES], { stdio: 'inherit', env });
  } catch (err) {
    loud(`GO INTEROP TEST WILL BE SKIPPED: installing ${GO_PACKAGES.join(' ')} failed: ${err.message}`);
    return;
  }
  const still = goInteropMissing();
  if (still) loud(`GO INTEROP TEST WILL BE SKIPPED: ${GO_PACKAGES.join(' ')} were installed, yet ${still}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) ensure();
