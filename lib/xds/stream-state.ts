/**
 * Pure: what one ADS stream (one client, state of the world) has asked for and been sent, and what
 * it must be sent next — after one of its requests, or after the registry changed.
 *
 * Every new stream gets the full current state of each type it subscribes to, whatever versions it
 * reports: a client that reconnects reports the versions it last accepted, which a restarted
 * server's own versions can equal. Listener and Cluster responses list every subscribed resource
 * that exists (a resource left out is deleted); RouteConfiguration and ClusterLoadAssignment
 * responses carry only those that changed.
 */
import type { DiscoveryRequest } from './protos';
import type { RegistryView } from './registry-view';
import { isFullStateType, isServedType, TypeUrl } from './resources';

/** The client behind a stream, from the `node` of its first request. */
export interface ClientNode {
  readonly id: string;
  /** `node.locality.zone`; undefined when the bootstrap names none. */
  readonly zone?: string;
}

/** What a request means for the stream. */
export type RequestVerdict =
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'nack'; readonly type: TypeUrl; readonly nonce: string; readonly message: string }
  | { readonly kind: 'request'; readonly type: TypeUrl };

/** The resources to send in one response of one type. */
export interface PlannedResponse {
  readonly type: TypeUrl;
  /** Services whose resource of this type goes into the response, sorted. */
  readonly names: readonly string[];
}

/**
 * What identifies the content of one resource: the service's generation for its
 * ClusterLoadAssignment (it follows the endpoints), its mere presence for the other three (they
 * depend on the name only); `undefined` when the service is absent.
 */
function versionToken(type: TypeUrl, service: string, view: RegistryView): number | undefined {
  const generation = view.generationOf(service);
  if (generation === undefined) return undefined;
  return type === TypeUrl.ClusterLoadAssignment ? generation : 0;
}

/** One ADS stream's subscriptions and what it was last sent. */
export class StreamState {
  private nodeSeen?: ClientNode;
  private readonly subscribed = new Map<TypeUrl, Set<string>>();
  /** Per type: service → version token last sent (`undefined` = sent as absent). */
  private readonly sent = new Map<TypeUrl, Map<string, number | undefined>>();

  /** The client, once its first request named it. */
  get node(): ClientNode | undefined {
    return this.nodeSeen;
  }

  /** Reads one request: its node (first request only), its subscription, a NACK's error. */
  receive(request: DiscoveryRequest): RequestVerdict {
    if (!this.nodeSeen)
      this.nodeSeen = {
        id: request.node?.id || '(no node id)',
        ...(request.node?.locality?.zone ? { zone: request.node.locality.zone } : {}),
      };
    if (!isServedType(request.type_url)) return { kind: 'ignored', reason: `type ${request.type_url} is not served` };
    this.subscribed.set(request.type_url, new Set(request.resource_names));
    if (request.error_detail && (request.error_detail.message || request.error_detail.code))
      return {
        kind: 'nack',
        type: request.type_url,
        nonce: request.response_nonce,
        message: request.error_detail.message ?? `code ${request.error_detail.code}`,
      };
    return { kind: 'request', type: request.type_url };
  }

  /**
   * What to send of `type` now, or `undefined` when the client already has it all. Records the
   * plan as sent: call it only when the response will be written.
   */
  plan(type: TypeUrl, view: RegistryView): PlannedResponse | undefined {
    const names = [...(this.subscribed.get(type) ?? [])].sort();
    const first = !this.sent.has(type);
    const sent = this.sent.get(type) ?? new Map<string, number | undefined>();
    const token = (name: string) => versionToken(type, name, view);
    const changed = names.filter((name) => !sent.has(name) || sent.get(name) !== token(name));
    const next = new Map(names.map((name) => [name, token(name)] as const));
    const present = (list: readonly string[]) => list.filter((name) => token(name) !== undefined);
    let planned: PlannedResponse | undefined;
    if (first) planned = { type, names: present(names) };
    else if (changed.length === 0) planned = undefined;
    else if (isFullStateType(type)) planned = { type, names: present(names) };
    else planned = present(changed).length > 0 ? { type, names: present(changed) } : undefined;
    this.sent.set(type, next);
    return planned;
  }

  /** The types this stream subscribes to (in the order it first asked). */
  types(): TypeUrl[] {
    return [...this.subscribed.keys()];
  }

  /** Whether any of `services` is subscribed with any type. */
  watchesAny(services: ReadonlySet<string>): boolean {
    for (const names of this.subscribed.values()) for (const name of names) if (services.has(name)) return true;
    return false;
  }
}
