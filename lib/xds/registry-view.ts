/**
 * Pure: the registry as the xDS server serves it — every service under the registry directory with
 * its endpoints, and a generation per service that changes whenever its endpoints do, so the
 * server knows which resources a change touched without comparing them.
 */
import type { EndpointChange } from '../discovery/endpoint-table';
import type { DiscoveredEndpoint } from '../discovery/parse';
import { serviceEndpointOf, serviceOfKey, type ServiceEndpoint } from './resources';

interface ServiceState {
  readonly byKey: Map<string, DiscoveredEndpoint>;
  endpoints: readonly ServiceEndpoint[];
  generation: number;
}

/** Services and their endpoints, kept from the discovery watcher's changes. */
export class RegistryView {
  private readonly services = new Map<string, ServiceState>();
  private nextGeneration = 1;

  /** @param directory the registry directory with its trailing slash, e.g. `services/`. */
  constructor(readonly directory: string) {}

  /**
   * Applies what a snapshot or a batch of watch events changed; returns the services it touched
   * (a service whose last key went is gone from the view afterwards).
   */
  apply(change: EndpointChange): Set<string> {
    const touched = new Set<string>();
    for (const endpoint of change.removed) {
      const service = serviceOfKey(endpoint.key, this.directory);
      const state = service === undefined ? undefined : this.services.get(service);
      if (!state?.byKey.delete(endpoint.key)) continue;
      touched.add(service!);
    }
    for (const endpoint of change.added) {
      const service = serviceOfKey(endpoint.key, this.directory);
      if (service === undefined) continue;
      let state = this.services.get(service);
      if (!state) this.services.set(service, (state = { byKey: new Map(), endpoints: [], generation: 0 }));
      state.byKey.set(endpoint.key, endpoint);
      touched.add(service);
    }
    for (const service of touched) {
      const state = this.services.get(service)!;
      if (state.byKey.size === 0) {
        this.services.delete(service);
        continue;
      }
      state.endpoints = [...state.byKey.values()]
        .sort((a, b) => a.addr.localeCompare(b.addr) || a.key.localeCompare(b.key))
        .map(serviceEndpointOf);
      state.generation = this.nextGeneration++;
    }
    return touched;
  }

  /** The endpoints of a service, or `undefined` when the registry has none for it. */
  endpointsOf(service: string): readonly ServiceEndpoint[] | undefined {
    return this.services.get(service)?.endpoints;
  }

  /** A number that changes whenever the service's endpoints change; `undefined` for an absent service. */
  generationOf(service: string): number | undefined {
    return this.services.get(service)?.generation;
  }

  /** Every service with at least one endpoint, sorted. */
  serviceNames(): string[] {
    return [...this.services.keys()].sort();
  }

  /** Number of endpoint keys in the view. */
  get size(): number {
    let n = 0;
    for (const state of this.services.values()) n += state.byKey.size;
    return n;
  }
}
