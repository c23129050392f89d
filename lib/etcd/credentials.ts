/**
 * etcd credentials (TLS client certificate and CA, user name and password). They are resolved per
 * invocation by the handlers' middleware (from Secrets Manager or SSM, cached across invocations by
 * Powertools Parameters) and handed to the client factory; they never enter the config, a log line or an error.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { EtcdCredentialSource } from '../config';
import { ConfigError } from '../errors';

/** What the etcd client needs to authenticate. Every field is optional. */
export interface EtcdCredentials {
  readonly username?: string;
  readonly password?: string;
  /** PEM of the CA that signed etcd's server certificate. */
  readonly ca?: Buffer;
  /** PEM of the client certificate (etcd `--client-cert-auth`). */
  readonly cert?: Buffer;
  /** PEM of the client certificate's private key. */
  readonly key?: Buffer;
}

const PEM = /^-----BEGIN [A-Z0-9 ]+-----[\s\S]+-----END [A-Z0-9 ]+-----\s*$/;

/**
 * Validates the JSON held by the secret or parameter. Errors name the source and the field, never
 * a value.
 */
export function parseCredentials(value: unknown, source: string): EtcdCredentials {
  const variable = source.startsWith('secret') ? 'ETCD_SECRET_ID' : 'ETCD_SSM_PARAMETER';
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(
      variable,
      `${source} must hold a JSON object like {"username":"…","password":"…","ca":"-----BEGIN CERTIFICATE-----…"}`,
    );
  const json = value as Record<string, unknown>;
  const known = ['username', 'password', 'ca', 'cert', 'key'];
  const unknown = Object.keys(json).filter((k) => !known.includes(k));
  if (unknown.length > 0)
    throw new ConfigError(
      variable,
      `${source} has unknown fields: ${unknown.join(', ')} (expected ${known.join(', ')})`,
    );
  for (const field of known) {
    if (json[field] !== undefined && typeof json[field] !== 'string')
      throw new ConfigError(variable, `${source} field "${field}" must be a string`);
  }
  for (const field of ['ca', 'cert', 'key']) {
    if (json[field] !== undefined && !PEM.test(json[field] as string))
      throw new ConfigError(variable, `${source} field "${field}" must be PEM text`);
  }
  if (json.password !== undefined && json.username === undefined)
    throw new ConfigError(variable, `${source} has a password but no username`);
  if ((json.cert === undefined) !== (json.key === undefined))
    throw new ConfigError(variable, `${source} needs both "cert" and "key" for a client certificate`);
  const pem = (field: string) => (json[field] === undefined ? undefined : Buffer.from(json[field] as string));
  return {
    username: json.username as string | undefined,
    password: json.password as string | undefined,
    ca: pem('ca'),
    cert: pem('cert'),
    key: pem('key'),
  };
}

function readPem(path: string | undefined, variable: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(variable, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Credentials given in the environment (local use): PEM files and `ETCD_PASSWORD`. */
export function credentialsFromEnv(
  source: Extract<EtcdCredentialSource, { kind: 'env' }>,
  env: Readonly<Record<string, string | undefined>>,
): EtcdCredentials {
  return {
    username: source.username,
    password: source.username ? env.ETCD_PASSWORD : undefined,
    ca: readPem(source.caFile, 'ETCD_CA_FILE'),
    cert: readPem(source.certFile, 'ETCD_CERT_FILE'),
    key: readPem(source.keyFile, 'ETCD_KEY_FILE'),
  };
}

/** A digest that changes when the credentials change (rotation), for keeping one client per set. */
export function credentialsFingerprint(credentials: EtcdCredentials | undefined): string {
  if (!credentials) return 'none';
  const hash = createHash('sha256');
  for (const part of [credentials.username, credentials.password, credentials.ca, credentials.cert, credentials.key])
    hash.update(part ?? '\u0000').update('\u0001');
  return hash.digest('hex');
}
