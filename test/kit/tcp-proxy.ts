/**
 * A TCP proxy on 127.0.0.1 in front of a real server, so a test can take the network away from
 * a client (cut every connection, refuse new ones), make the server silent (connections are
 * accepted, nothing is ever answered: a black-holed or frozen member), and give it back, without
 * touching the server.
 */
import { createServer, connect, type Socket } from 'node:net';

/** A running proxy. */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Client connections open now. */
  readonly open: number;
  /** Destroys every open connection and refuses new ones until {@link TcpProxy.restore}. */
  cut(): void;
  /**
   * Stops forwarding in both directions on every open connection and accepts new connections
   * without ever answering them, until {@link TcpProxy.restore}: the server looks alive to TCP and
   * never says a word (what a member behind a black-holing network or a frozen process looks like).
   */
  silence(): void;
  /** Accepts and forwards connections again (silenced connections are closed first). */
  restore(): void;
  close(): Promise<void>;
}

/** Starts a proxy forwarding to `target` (`http://host:port`). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const pairs = new Map<Socket, Socket>();
  let mode: 'forward' | 'cut' | 'silent' = 'forward';
  /** Stops forwarding between a client and its upstream; what the client sends is read and dropped. */
  const mute = (client: Socket, upstream?: Socket) => {
    if (upstream) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      upstream.pause();
    }
    client.resume();
  };
  const server = createServer((client) => {
    if (mode === 'cut') return client.destroy();
    const upstream = connect(Number(port), hostname);
    pairs.set(client, upstream);
    client.on('close', () => pairs.delete(client));
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
    if (mode === 'silent') return mute(client, upstream);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    get open() {
      return pairs.size;
    },
    cut() {
      mode = 'cut';
      for (const socket of sockets) socket.destroy();
    },
    silence() {
      mode = 'silent';
      for (const [client, upstream] of pairs) mute(client, upstream);
    },
    restore() {
      // A silenced connection's streams are out of step: close it, the client opens a new one.
      if (mode === 'silent') for (const socket of sockets) socket.destroy();
      mode = 'forward';
    },
    close: async () => {
      mode = 'cut';
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
