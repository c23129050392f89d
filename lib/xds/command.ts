/**
 * The CLI's `xds` commands: `xds` runs the server until SIGTERM or SIGINT, logging JSON lines on
 * stderr; `xds bootstrap` prints the bootstrap file a client needs.
 */
import { loadXdsConfig, type Config } from '../config';
import { ConfigError } from '../errors';
import type { EtcdCredentials } from '../etcd/credentials';
import type { Log } from '../log';
import { clientBootstrap, type ClientBootstrapOptions } from './bootstrap';
import { envoyProtoDir } from './protos';
import { runXds } from './run';

/** A logger writing one JSON object per line. */
export function jsonLineLog(write: (text: string) => void): Log {
  const at =
    (level: string) =>
    (message: string, ...extra: unknown[]) =>
      write(
        `${JSON.stringify({ level, time: new Date().toISOString(), message, ...Object.assign({}, ...extra.filter((e) => typeof e === 'object')) })}\n`,
      );
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

/** Options of {@link serveXds}. */
export interface ServeXdsOptions {
  readonly config: Config;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly credentials?: EtcdCredentials;
  /** `--port`, overriding `XDS_PORT`. */
  readonly port?: string;
  readonly stderr: (text: string) => void;
}

/**
 * `ecs-etcd-registrar xds`: serves until the process gets SIGTERM or SIGINT. Returns false, having
 * said why on stderr, when this build cannot serve (the bundled bin has no Envoy protos).
 */
export async function serveXds(options: ServeXdsOptions): Promise<boolean> {
  try {
    envoyProtoDir();
  } catch (err) {
    options.stderr(`xds is not available in this build: ${(err as Error).message}\n`);
    return false;
  }
  if (options.port !== undefined && !/^\d{1,5}$/.test(options.port.trim()))
    throw new ConfigError('--port', `expected a port from 0 to 65535, got "${options.port}"`);
  const xds = loadXdsConfig(options.port === undefined ? options.env : { ...options.env, XDS_PORT: options.port });
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await runXds({
      config: options.config,
      xds,
      credentials: options.credentials,
      log: jsonLineLog(options.stderr),
      signal: stop.signal,
    });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  return true;
}

/** `ecs-etcd-registrar xds bootstrap`: the bootstrap JSON for one client. */
export function bootstrapJson(options: ClientBootstrapOptions): string {
  return `${JSON.stringify(clientBootstrap(options), null, 2)}\n`;
}
