/**
 * Resolves the etcd credentials for an invocation from where the config says they live. Secrets
 * Manager and SSM are read through middy's middlewares (cached across invocations, refreshed every
 * 5 minutes so a rotated secret is picked up), loaded only when configured so functions that do not
 * use them carry no extra AWS client at start.
 */
import type { Request } from '@middy/core';
import type { EtcdCredentialSource } from './config';
import { DependencyError, errorMessage, RegistrarError } from './errors';
import { credentialsFromEnv, parseCredentials, type EtcdCredentials } from './etcd/credentials';

/** How long fetched credentials are reused before they are read again. */
export const CREDENTIALS_CACHE_MS = 5 * 60 * 1000;

type Before = (request: Request) => Promise<void>;
let fetcher: { key: string; before: Before } | undefined;
let fromEnv: EtcdCredentials | undefined;

async function middlewareFor(source: Extract<EtcdCredentialSource, { kind: 'secrets-manager' | 'ssm' }>): Promise<Before> {
  const key = source.kind === 'ssm' ? `ssm:${source.parameter}` : `sm:${source.secretId}`;
  if (fetcher?.key === key) return fetcher.before;
  const common = { cacheKey: `etcd-credentials-${key}`, cacheExpiry: CREDENTIALS_CACHE_MS, disablePrefetch: true };
  const before =
    source.kind === 'ssm'
      ? (await import('@middy/ssm')).default({ ...common, fetchData: { etcdCredentials: source.parameter } }).before!
      : (await import('@middy/secrets-manager')).default({ ...common, fetchData: { etcdCredentials: source.secretId } }).before!;
  fetcher = { key, before: before as Before };
  return fetcher.before;
}

/**
 * The etcd credentials for this invocation, or `undefined` when etcd needs none.
 *
 * @throws {DependencyError} (`secrets`) when the secret or parameter cannot be read;
 *   {@link ConfigError} when its content is not valid credentials. Neither message carries a value.
 */
export async function resolveEtcdCredentials(source: EtcdCredentialSource, request: Request): Promise<EtcdCredentials | undefined> {
  if (source.kind === 'none') return undefined;
  if (source.kind === 'env') return (fromEnv ??= credentialsFromEnv(source, process.env));
  const where = source.kind === 'ssm' ? `SSM parameter ${source.parameter}` : `secret ${source.secretId}`;
  let value: unknown;
  try {
    const before = await middlewareFor(source);
    request.internal ??= {};
    await before(request);
    value = await (request.internal as Record<string, unknown>).etcdCredentials;
  } catch (err) {
    const name = err instanceof Error ? err.name : 'Error';
    throw new DependencyError('secrets', `reading the etcd credentials from ${where} failed: ${name}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return parseCredentials(value, where);
  } catch (err) {
    if (err instanceof RegistrarError) throw err;
    throw new DependencyError('secrets', `the etcd credentials in ${where} are unreadable`);
  }
}
