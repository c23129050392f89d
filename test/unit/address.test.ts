import { describe, expect, it } from 'vitest';
import { AddressFamily, assertDialableIpv4, assertDialableIpv6, chooseAddress, hostPort } from '../../lib/address';
import { endpointKey, endpointValue } from '../../lib/keys';
import { KeyFormat, ValueFormat } from '../../lib/config';
import { parseEndpoint } from '../../lib/discovery/parse';

describe('assertDialableIpv6', () => {
  it('returns the canonical form, so one address is one key', () => {
    expect(assertDialableIpv6('2600:1F18:0:0::0A', 'x')).toBe('2600:1f18::a');
    expect(assertDialableIpv6('fd12:3456:789a:1::1', 'x')).toBe('fd12:3456:789a:1::1');
  });

  it.each([
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['fe80::1', /link-local/],
    ['febf::1', /link-local/],
    ['ff02::1', /multicast/],
    ['::ffff:10.0.0.1', /IPv4-mapped/],
    ['::ffff:a00:1', /IPv4-mapped/],
    ['::10.0.0.1', /IPv4-compatible/],
    ['fe80::1%eth0', /not an IPv6 address/],
    ['[2600:1f18::1]', /not an IPv6 address/],
    ['10.0.0.1', /not an IPv6 address/],
    ['2600:1f18::1::2', /not an IPv6 address/],
    ['2600:1f18::g', /not an IPv6 address/],
  ])('refuses %j, naming the field', (value, message) => {
    expect(() => assertDialableIpv6(value, 'detail.attachments.ipv6Address')).toThrow(message);
    expect(() => assertDialableIpv6(value, 'detail.attachments.ipv6Address')).toThrow(
      /^invalid event at detail\.attachments\.ipv6Address/,
    );
  });

  it('accepts ::1 only where loopback is allowed (local runs)', () => {
    expect(assertDialableIpv6('::1', 'x', true)).toBe('::1');
    expect(() => assertDialableIpv6('fe80::1', 'x', true)).toThrow(/link-local/);
  });
});

describe('chooseAddress', () => {
  const both = { ipv4: '10.0.0.5', ipv6: '2600:1f18::5' };
  it('follows the setting for dual-stack tasks', () => {
    expect(chooseAddress(both, AddressFamily.Ipv4)).toEqual({ ip: '10.0.0.5' });
    expect(chooseAddress(both, AddressFamily.Ipv6)).toEqual({ ip: '2600:1f18::5' });
    expect(chooseAddress(both, AddressFamily.Ipv4Only)).toEqual({ ip: '10.0.0.5' });
    expect(chooseAddress(both, AddressFamily.Ipv6Only)).toEqual({ ip: '2600:1f18::5' });
  });

  it('publishes the one family a single-stack task has, unless the setting says only the other', () => {
    expect(chooseAddress({ ipv6: '2600:1f18::5' }, AddressFamily.Ipv4)).toEqual({ ip: '2600:1f18::5' });
    expect(chooseAddress({ ipv4: '10.0.0.5' }, AddressFamily.Ipv6)).toEqual({ ip: '10.0.0.5' });
    expect(chooseAddress({ ipv6: '2600:1f18::5' }, AddressFamily.Ipv4Only)).toEqual({
      reason: expect.stringMatching(
        /^no IPv4 address \(only IPv6 2600:1f18::5\) while ENDPOINT_ADDRESS_FAMILY=ipv4-only/,
      ),
    });
    expect(chooseAddress({ ipv4: '10.0.0.5' }, AddressFamily.Ipv6Only)).toEqual({
      reason: expect.stringMatching(/^no IPv6 address \(only IPv4 10\.0\.0\.5\)/),
    });
  });
});

describe('bracketed IPv6 in keys and values', () => {
  const endpoint = { service: 'api', container: 'app', containerPort: 50051, ip: '2600:1f18::5', port: 50051 };
  const metadata = { taskArn: 't', cluster: 'c', taskDefinition: 'd', container: 'app', version: 1 };

  it('writes [addr]:port in every value format and in KEY_FORMAT=addr keys, and clients read them back', () => {
    expect(hostPort('10.0.0.5', 80)).toBe('10.0.0.5:80');
    expect(hostPort('2600:1f18::5', 80)).toBe('[2600:1f18::5]:80');
    const addrKey = endpointKey({ registryPrefix: 'services', keyFormat: KeyFormat.Addr }, 'abc', endpoint);
    expect(addrKey).toBe('services/api/[2600:1f18::5]:50051');
    expect(endpointKey({ registryPrefix: 'services', keyFormat: KeyFormat.Task }, 'abc', endpoint)).toBe(
      'services/api/abc:50051',
    );
    const values = Object.values(ValueFormat).map((f) => endpointValue(f, endpoint, metadata));
    expect(values[1]).toBe('[2600:1f18::5]:50051');
    expect(JSON.parse(values[2]!)).toEqual({ Name: 'api', IP: '[2600:1f18::5]:50051' });
    const naming = JSON.parse(values[0]!);
    expect(naming.Addr).toBe('[2600:1f18::5]:50051');
    expect(typeof naming.Metadata).toBe('string');
    for (const value of values) expect(parseEndpoint(addrKey, value)?.addr).toBe('[2600:1f18::5]:50051');
    // A value this registrar did not write: the addr key alone still gives the address.
    expect(parseEndpoint(addrKey, 'garbage')?.addr).toBe('[2600:1f18::5]:50051');
    expect(parseEndpoint('services/api/abc:50051', 'garbage')).toBeUndefined();
  });
});

describe('assertDialableIpv4', () => {
  it.each(['10.0.0.139', '172.31.5.6', '192.168.1.1', '100.64.0.1', '8.8.8.8', '169.253.1.1', '223.255.255.254'])(
    'accepts %j',
    (ip) => expect(assertDialableIpv4(ip, 'x')).toBe(ip),
  );
  it.each(['', 'abc', '10.0.0.999', '010.0.0.1', '10.0.0.1 ', '1.2.3', '::1', '10.0.0.1\u0000', '１0.0.0.1'])(
    'rejects %j as not IPv4',
    (ip) => expect(() => assertDialableIpv4(ip, 'ip')).toThrow(/invalid event at ip: .* is not an IPv4 address/),
  );
  it.each([
    '0.0.0.0',
    '0.1.2.3',
    '127.0.0.1',
    '169.254.169.254',
    '169.254.170.2',
    '224.0.0.1',
    '239.1.1.1',
    '240.0.0.1',
    '255.255.255.255',
  ])('rejects %j as an address no task serves on', (ip) =>
    expect(() => assertDialableIpv4(ip, 'ip')).toThrow(/is not an address a task serves clients on/),
  );
});
