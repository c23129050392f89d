/**
 * Resolves the etcd credentials for an invocation from where the config says they live. Secrets
 * Manager and SSM are read through Powertools Parameters (`getSecret` / `getParameter`: cached in
 * the process for 5 minutes, so warm invocations read nothing and a rotated secret is picked up),
 * loaded only when configured so functions that do not use them carry no extra AWS client at start.
 */
import type { EtcdCredentialSource } from '../config';
import { DependencyError, errorMessage, RegistrarError } from '../errors';
import { credentialsFromEnv, parseCredentials, type EtcdCredentials } from './credentials';

/** How long fetched credentials are reused before they are read again. */
export const CREDENTIALS_CACHE_MS = 5 * 60 * 1000;

let fromEnv: EtcdCredentials | undefined;

/** The stored text: through Powertools Parameters' cache, decrypted (SSM SecureString). */
async function fetchStored(
  source: Extract<EtcdCredentialSource, { kind: 'secrets-manager' | 'ssm' }>,
): Promise<unknown> {
  const maxAge = CREDENTIALS_CACHE_MS / 1000;
  if (source.kind === 'ssm')
    return (await import('@aws-lambda-powertools/parameters/ssm')).getParameter(source.parameter, {
      decrypt: true,
      maxAge,
    });
  return (await import('@aws-lambda-powertools/parameters/secrets')).getSecret(source.secretId, { maxAge });
}

/** JSON text → its value; anything else is left for {@link parseCredentials} to reject by name. */
function json(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The etcd credentials for this invocation, or `undefined` when etcd needs none.
 *
 * @throws {DependencyError} (`secrets`) when the secret or parameter cannot be read;
 *   {@link ConfigError} when its content is not valid credentials. Neither message carries a value.
 */
export async function resolveEtcdCredentials(source: EtcdCredentialSource): Promise<EtcdCredentials | undefined> {
  if (source.kind === 'none') return undefined;
  if (source.kind === 'env') return (fromEnv ??= credentialsFromEnv(source, process.env));
  const where = source.kind === 'ssm' ? `SSM parameter ${source.parameter}` : `secret ${source.secretId}`;
  let value: unknown;
  try {
    value = json(await fetchStored(source));
  } catch (err) {
    // Powertools wraps the SDK's error (GetParameterError); name the AWS error itself.
    const cause =
      err instanceof Error && err.name === 'GetParameterError' && err.cause instanceof Error ? err.cause : err;
    const name = cause instanceof Error ? cause.name : 'Error';
    throw new DependencyError(
      'secrets',
      `reading the etcd credentials from ${where} failed: ${name}: ${errorMessage(cause)}`,
      { cause: err },
    );
  }
  try {
    return parseCredentials(value, where);
  } catch (err) {
    if (err instanceof RegistrarError) throw err;
    throw new DependencyError('secrets', `the etcd credentials in ${where} are unreadable`);
  }
}
