/**
 * Reading endpoint keys the way a gRPC client does: every value format the registrar writes
 * (etcd-naming JSON, bare `ip:port`, `{"Name","IP"}` JSON) and both key formats.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** One address a client can dial, with the metadata the registrar wrote (if any). */
export interface DiscoveredEndpoint {
  /** The etcd key. */
  readonly key: string;
  /** `ip:port` (IPv4) or `[ip]:port` (IPv6) to dial. */
  readonly addr: string;
  /** Parsed metadata (etcd-naming format only). */
  readonly metadata?: Record<string, unknown>;
}

/** `host:port` with a real IPv4 address, a bracketed IPv6 address or a DNS name, and a port 1-65535. */
function isAddr(addr: string, ipOnly = false): boolean {
  const colon = addr.lastIndexOf(':');
  const host = addr.slice(0, colon);
  const port = addr.slice(colon + 1);
  if (colon < 1 || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return false;
  if (isIPv4(host)) return true;
  if (host.startsWith('[') && host.endsWith(']')) return isIPv6(host.slice(1, -1));
  if (ipOnly) return false;
  return (
    /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host) &&
    /[A-Za-z]/.test(host) &&
    !isIPv4Like(host)
  );
}

/** Dotted digits that are not a valid IPv4 address (e.g. 10.0.0.999) are not a host name either. */
const isIPv4Like = (host: string) => /^[\d.]+$/.test(host);

/**
 * Parses one endpoint key/value. Returns `undefined` for values that carry no dialable address
 * (an etcd-naming `Op` other than 0 = add, or something this registrar did not write).
 */
export function parseEndpoint(key: string, value: string): DiscoveredEndpoint | undefined {
  const text = value.trim();
  if (text.startsWith('{')) {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    if (typeof json.Addr === 'string') {
      if (json.Op !== undefined && json.Op !== 0) return undefined;
      let metadata: Record<string, unknown> | undefined;
      if (typeof json.Metadata === 'string') {
        try {
          metadata = JSON.parse(json.Metadata) as Record<string, unknown>;
        } catch {
          metadata = undefined;
        }
      }
      return isAddr(json.Addr) ? { key, addr: json.Addr, metadata } : undefined;
    }
    if (typeof json.IP === 'string') return isAddr(json.IP) ? { key, addr: json.IP } : undefined;
    return undefined;
  }
  if (isAddr(text)) return { key, addr: text };
  // Fall back to the key's last segment only when it is an IPv4 or bracketed IPv6 address
  // (KEY_FORMAT=addr): a task id (KEY_FORMAT=task) must never be taken for a host name.
  const last = key.slice(key.lastIndexOf('/') + 1);
  return isAddr(last, true) ? { key, addr: last } : undefined;
}
