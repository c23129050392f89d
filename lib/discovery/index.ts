/**
 * The discovery client, as installed from the package (`ecs-etcd-registrar/discovery`): watch a
 * service's endpoints in etcd (`watchService`), or dial them from grpc-js through the etcd name
 * resolver (`registerEtcdResolver` + `roundRobin`). Nothing here imports the registrar.
 *
 * Relative imports in this folder end in `.js`: it is also compiled on its own
 * (`tsconfig.discovery.json`) into ES modules that Node loads without a bundler.
 *
 * @example
 * import * as grpc from '@grpc/grpc-js';
 * import { registerEtcdResolver, roundRobin } from 'ecs-etcd-registrar/discovery';
 *
 * registerEtcdResolver({ hosts: 'http://10.0.1.5:2379' });
 * const client = new grpc.Client('etcd:///services/api', grpc.credentials.createInsecure(), roundRobin);
 */
export { discoveryClientOptions, discoveryFaultHandling, HOST_HALF_OPEN_AFTER_MS } from './client-options.js';
export {
  EndpointTable,
  isEmptyChange,
  type EndpointChange,
  type EndpointEvent,
  type KeyValue,
} from './endpoint-table.js';
export { EtcdWatchError } from './errors.js';
export {
  ETCD_SCHEME,
  registerEtcdResolver,
  roundRobin,
  targetDirectory,
  type EtcdResolverOptions,
  type EtcdSource,
} from './grpc-resolver.js';
export { parseEndpoint, type DiscoveredEndpoint } from './parse.js';
export {
  asDirectory,
  backoffDelay,
  ServiceWatcher,
  watchService,
  type BackoffOptions,
  type ChangeListener,
  type ErrorListener,
  type ServiceWatcherOptions,
} from './watcher.js';
