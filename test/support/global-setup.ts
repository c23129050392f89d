/**
 * Starts one real etcd (Debian's etcd-server, on a free loopback port, temp data dir) for the whole
 * test run and stops it afterwards. Tests isolate themselves with unique key prefixes.
 */
import type { TestProject } from 'vitest/node';
import { startLocalEtcd, type LocalEtcd } from '../kit/local-etcd';

let etcd: LocalEtcd | undefined;

export async function setup(project: TestProject): Promise<void> {
  etcd = await startLocalEtcd();
  project.provide('etcdEndpoint', etcd.endpoint);
}

export async function teardown(): Promise<void> {
  await etcd?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoint: string;
  }
}
