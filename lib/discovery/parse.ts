/**
 * Reading endpoint keys the way a gRPC client does: every value format the registrar writes
 * (etcd-naming JSON, bare `ip:port`, `{"Name","IP"}` JSON) and both key formats.
 */

/** One address a client can dial, with the metadata the registrar wrote (if any). */
export interface DiscoveredEndpoint {
  /** The etcd key. */
  readonly key: string;
  /** `ip:port` to dial. */
  readonly addr: string;
  /** Parsed metadata (etcd-naming format only). */
  readonly metadata?: Record<string, unknown>;
}

const ADDR = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

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
      return ADDR.test(json.Addr) ? { key, addr: json.Addr, metadata } : undefined;
    }
    if (typeof json.IP === 'string') return ADDR.test(json.IP) ? { key, addr: json.IP } : undefined;
    return undefined;
  }
  if (ADDR.test(text)) return { key, addr: text };
  // Fall back to the key's last segment (KEY_FORMAT=addr with an unrecognised value).
  const last = key.slice(key.lastIndexOf('/') + 1);
  return ADDR.test(last) && /^\d/.test(last) ? { key, addr: last } : undefined;
}
