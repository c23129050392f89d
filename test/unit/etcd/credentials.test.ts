import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../lib/errors';
import { credentialsFingerprint, parseCredentials } from '../../../lib/etcd/credentials';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('parseCredentials', () => {
  it('reads user, password and PEMs', () => {
    const c = parseCredentials(
      { username: 'registrar', password: 'pw', ca: PEM, cert: PEM, key: PEM },
      'secret prod/etcd',
    );
    expect(c.username).toBe('registrar');
    expect(c.ca?.toString()).toBe(PEM);
  });

  it.each([
    ['a string', 'registrar:pw'],
    ['an unknown field', { user: 'x' }],
    ['a number password', { username: 'u', password: 1 }],
    ['a CA that is not PEM', { ca: 'not pem' }],
    ['a password without user', { password: 'hunter2' }],
    ['a certificate without key', { cert: PEM }],
  ])('rejects %s, naming the source but no value', (_what, value) => {
    let error: unknown;
    try {
      parseCredentials(value, 'secret prod/etcd');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^ETCD_SECRET_ID: secret prod\/etcd /);
    expect((error as Error).message).not.toMatch(/hunter2|registrar:pw|not pem/);
  });
});

describe('credentialsFingerprint', () => {
  it('changes when a rotated password changes, and is stable otherwise', () => {
    const a = credentialsFingerprint({ username: 'u', password: 'one' });
    expect(credentialsFingerprint({ username: 'u', password: 'one' })).toBe(a);
    expect(credentialsFingerprint({ username: 'u', password: 'two' })).not.toBe(a);
    expect(credentialsFingerprint(undefined)).toBe('none');
  });
});
