/**
 * Pure: the addresses a task can be published at. Every address, wherever it comes from (event,
 * DescribeTasks, EC2), passes {@link assertDialableIpv4} or {@link assertDialableIpv6} before it
 * reaches a key or a value, and is written `ip:port` (IPv4) or `[ip]:port` (IPv6) by
 * {@link hostPort}, the one place that knows the bracket rule.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidEventError } from './errors';

/** Which address family endpoints are published in (`ENDPOINT_ADDRESS_FAMILY`). */
export const AddressFamily = {
  /** IPv4 where the task has it; a task with only an IPv6 address (IPv6-only subnet or instance) publishes that. */
  Ipv4: 'ipv4',
  /** IPv6 where the task has it; a task with only an IPv4 address publishes that. */
  Ipv6: 'ipv6',
  /** IPv4 only: a task without an IPv4 address is skipped, with the reason. */
  Ipv4Only: 'ipv4-only',
  /** IPv6 only: a task without an IPv6 address is skipped, with the reason. */
  Ipv6Only: 'ipv6-only',
} as const;
export type AddressFamily = (typeof AddressFamily)[keyof typeof AddressFamily];

/** A task's (or its container instance's) addresses of each family, each already validated. */
export interface TaskAddresses {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/** The address to publish of `addresses` under `family`, or why there is none usable (`reason`). */
export function chooseAddress(
  addresses: TaskAddresses,
  family: AddressFamily,
): { readonly ip: string } | { readonly reason: string } {
  const { ipv4, ipv6 } = addresses;
  switch (family) {
    case AddressFamily.Ipv4:
      return ipv4 ? { ip: ipv4 } : ipv6 ? { ip: ipv6 } : { reason: 'no address' };
    case AddressFamily.Ipv6:
      return ipv6 ? { ip: ipv6 } : ipv4 ? { ip: ipv4 } : { reason: 'no address' };
    case AddressFamily.Ipv4Only:
      return ipv4
        ? { ip: ipv4 }
        : {
            reason:
              `no IPv4 address (only IPv6 ${ipv6 ?? '?'}) while ENDPOINT_ADDRESS_FAMILY=ipv4-only: ` +
              'not published; set ENDPOINT_ADDRESS_FAMILY=ipv4 or ipv6 to publish IPv6 addresses',
          };
    case AddressFamily.Ipv6Only:
      return ipv6
        ? { ip: ipv6 }
        : {
            reason:
              `no IPv6 address (only IPv4 ${ipv4 ?? '?'}) while ENDPOINT_ADDRESS_FAMILY=ipv6-only: ` +
              'not published; give the task (or its instance) an IPv6 address, or set ENDPOINT_ADDRESS_FAMILY=ipv6',
          };
  }
}

/** A value quoted for an error message, cut short. */
const shown = (value: string) => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);

/**
 * Checks that a value is a dotted-quad IPv4 address a client can dial: no other notation (leading
 * zeros, spaces, IPv6), and not in a range where no task serves clients.
 *
 * @param allowLoopback accept 127/8 (local runs, where "tasks" are servers on this machine).
 * @throws {InvalidEventError} naming `what` and the offending value.
 */
export function assertDialableIpv4(value: string, what: string, allowLoopback = false): string {
  if (!isIPv4(value)) throw new InvalidEventError(`${shown(value)} is not an IPv4 address`, what);
  const [a, b] = value.split('.').map(Number) as [number, number];
  if (allowLoopback && a === 127) return value;
  // "This network" 0/8, loopback 127/8, link-local 169.254/16 (the EC2 instance and ECS task
  // metadata endpoints), multicast 224/4, reserved and broadcast 240/4: publishing one would send
  // clients to themselves or to a metadata endpoint.
  if (a === 0 || a === 127 || a >= 224 || (a === 169 && b === 254))
    throw new InvalidEventError(
      `${shown(value)} is not an address a task serves clients on (this-network, loopback, link-local, multicast or reserved)`,
      what,
    );
  return value;
}

/** The eight 16-bit groups of a canonical (compressed, lower-case, all-hex) IPv6 address. */
function groups(canonical: string): number[] {
  const [head, tail] = canonical.includes('::') ? canonical.split('::') : [canonical, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => Number.parseInt(g, 16));
}

/**
 * Checks that a value is an IPv6 address a client can dial and returns its canonical form
 * (compressed, lower-case: one address is one key), refusing zone ids (`%eth0`), the unspecified
 * address `::`, loopback `::1`, link-local `fe80::/10`, multicast `ff00::/8`, IPv4-mapped
 * `::ffff:0:0/96` and the deprecated IPv4-compatible `::/96`: no task serves clients there.
 *
 * @param allowLoopback accept `::1` (local runs, where "tasks" are servers on this machine).
 * @throws {InvalidEventError} naming `what` and the offending value.
 */
export function assertDialableIpv6(value: string, what: string, allowLoopback = false): string {
  if (!isIPv6(value) || value.includes('%') || value.length > 45)
    throw new InvalidEventError(`${shown(value)} is not an IPv6 address (no zone id, no brackets)`, what);
  const canonical = new URL(`http://[${value}]/`).hostname.slice(1, -1);
  const g = groups(canonical);
  const first = g[0]!;
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  const kind =
    canonical === '::'
      ? 'the unspecified address'
      : canonical === '::1'
        ? allowLoopback
          ? undefined
          : 'loopback'
        : (first & 0xffc0) === 0xfe80
          ? 'link-local (fe80::/10)'
          : (first & 0xff00) === 0xff00
            ? 'multicast (ff00::/8)'
            : zeroUpTo(5) && g[5] === 0xffff
              ? 'IPv4-mapped (::ffff:0:0/96): publish the IPv4 address itself'
              : zeroUpTo(6)
                ? 'IPv4-compatible (::/96, deprecated)'
                : undefined;
  if (kind !== undefined)
    throw new InvalidEventError(`${shown(value)} is not an address a task serves clients on: ${kind}`, what);
  return canonical;
}

/**
 * Checks an address of either family ({@link assertDialableIpv4}, {@link assertDialableIpv6}) and
 * returns it as written in keys and values (IPv6 canonical).
 */
export function assertDialableIp(value: string, what: string, allowLoopback = false): string {
  return value.includes(':')
    ? assertDialableIpv6(value, what, allowLoopback)
    : assertDialableIpv4(value, what, allowLoopback);
}

/** `ip:port` for IPv4, `[ip]:port` for IPv6: the form gRPC targets, etcd's resolver and grpc-js dial. */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
