#!/usr/bin/env node
// Makes sure the Python xDS interop test can run: Debian's python3-grpcio (gRPC C-core 1.51, which
// speaks xDS) for /usr/bin/python3. On Debian, as root, installs it when missing. Never fails:
// where nothing can be installed it says so loudly, and the test skips (or fails, in CI: CI=true or
// INTEROP_REQUIRED set).
import { execFileSync, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

/** The Debian package the Python interop test needs. */
export const PYTHON_PACKAGES = ['python3-grpcio'];
/** The interpreter the test runs (Debian's, which sees Debian's python3-* packages). */
export const PYTHON = '/usr/bin/python3';

/** Why the Python xDS test cannot run here, or undefined when it can. */
export function pythonGrpcMissing() {
  const probe = spawnSync(PYTHON, ['-c', 'import grpc; print(grpc.__version__)'], { encoding: 'utf8' });
  if (probe.error) return `${PYTHON} is not installed`;
  if (probe.status !== 0) return `${PYTHON} cannot import grpc (Debian package python3-grpcio)`;
  return undefined;
}

/** Whether a skipped interop test must fail instead (CI). */
export function interopRequired(env = process.env) {
  return Boolean(env.INTEROP_REQUIRED) || env.CI === 'true';
}

function loud(message) {
  const bar = '!'.repeat(100);
  console.error(`\n${bar}\n${message}\n${bar}\n`);
}

function ensure() {
  const missing = pythonGrpcMissing();
  if (!missing) return;
  const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!has('apt-get') || !isRoot) {
    loud(
      `PYTHON XDS TEST WILL BE SKIPPED: ${missing}, and this machine cannot install it (${has('apt-get') ? 'not root' : 'no apt-get'}).\n` +
        `Install the Debian package ${PYTHON_PACKAGES.join(' ')} (sudo apt-get install ${PYTHON_PACKAGES.join(' ')}) to run it.`,
    );
    return;
  }
  console.error(`${missing}: installing Debian packages ${PYTHON_PACKAGES.join(' ')} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...PYTHON_PACKAGES], { stdio: 'inherit', env });
  } catch (err) {
    loud(`PYTHON XDS TEST WILL BE SKIPPED: installing ${PYTHON_PACKAGES.join(' ')} failed: ${err.message}`);
    return;
  }
  const still = pythonGrpcMissing();
  if (still) loud(`PYTHON XDS TEST WILL BE SKIPPED: ${PYTHON_PACKAGES.join(' ')} was installed, yet ${still}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) ensure();
