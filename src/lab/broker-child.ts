/**
 * The lab's broker, run in a child process (`node --expose-gc broker-child.js`, forked) so that its CPU
 * time and RSS are its own. Listeners on 127.0.0.1:0: plain TCP; per server key a `compatible`-profile
 * TLS listener (TLS 1.2 + 1.3, tickets) and a mutual-TLS one (client certificate required, the lab CA);
 * one `psk`-profile listener without any certificate. The same prepareTls the CLI uses builds them.
 *
 * IPC: the parent sends the ChildConfig first; the child then sends {type:'ready', ports}, and answers 'cpu' (process.cpuUsage()), 'mem' (RSS after
 * a full GC), 'stats' (each TLS listener's handshake counters) and 'connections' (MQTT connections).
 */
import { Broker } from '../broker/broker.js';
import { startListener, type RunningListener } from '../broker/listeners.js';
import { silentLogger } from '../broker/logger.js';
import { prepareTls, type TlsListenerOptions } from '../security/tls-listener.js';

export interface ChildServerFiles {
  certFile: string;
  keyFile: string;
}

/** What the parent sends as its first IPC message. */
export interface ChildConfig {
  /** Server certificate and key per lab key name. */
  servers: Record<string, ChildServerFiles>;
  caFile: string;
  pskFile: string;
  ticketKeyFile: string;
  connectTimeoutMs?: number;
}

export interface ChildPorts {
  plain: number;
  tls: Record<string, number>;
  mtls: Record<string, number>;
  psk: number;
}

export type ChildReply =
  | { type: 'ready'; ports: ChildPorts }
  | { type: 'cpu'; userUs: number; systemUs: number }
  | { type: 'mem'; rss: number }
  | { type: 'stats'; stats: Record<string, { full: number; resumed: number; psk: number; failed: number; rejected: number }> }
  | { type: 'connections'; count: number }
  | { type: 'error'; message: string };

async function main(): Promise<void> {
  const cfg = await new Promise<ChildConfig>((resolve) => process.once('message', (m) => resolve(m as ChildConfig)));
  const broker = new Broker({
    sysInterval: 0, allowAnonymous: true, ...(cfg.connectTimeoutMs !== undefined ? { limits: { connectTimeoutMs: cfg.connectTimeoutMs } } : {}),
  });
  const running = new Map<string, RunningListener>();
  const tlsListener = async (name: string, o: TlsListenerOptions): Promise<number> => {
    // No file watching or ticket rotation: nothing changes during a run, and neither may cost CPU.
    const tls = await prepareTls({ watch: false, ticketRotationSeconds: 0, ticketKeyFile: cfg.ticketKeyFile, ...o }, silentLogger, name);
    const l = await startListener(broker, { url: 'mqtts://127.0.0.1:0', tls });
    running.set(name, l);
    return l.address.port;
  };
  const plain = await startListener(broker, { url: 'mqtt://127.0.0.1:0' });
  running.set('plain', plain);
  const ports: ChildPorts = { plain: plain.address.port, tls: {}, mtls: {}, psk: 0 };
  for (const [key, f] of Object.entries(cfg.servers)) {
    ports.tls[key] = await tlsListener(`tls:${key}`, { profile: 'compatible', certFile: f.certFile, keyFile: f.keyFile });
    ports.mtls[key] = await tlsListener(`mtls:${key}`, {
      profile: 'compatible', certFile: f.certFile, keyFile: f.keyFile, caFile: cfg.caFile, clientCert: 'required',
    });
  }
  ports.psk = await tlsListener('psk', { profile: 'psk', pskFile: cfg.pskFile });

  const send = (m: ChildReply): void => void process.send?.(m);
  process.on('message', (m: unknown) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      send({ type: 'cpu', userUs: u.user, systemUs: u.system });
    } else if (m === 'mem') {
      // Twice: the first collection may leave finalizer-held objects for the second. Then a pause, so
      // that memory the collector gives back after returning is gone before RSS is read.
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      setTimeout(() => send({ type: 'mem', rss: process.memoryUsage().rss }), 20);
    } else if (m === 'stats') {
      const stats: Extract<ChildReply, { type: 'stats' }>['stats'] = {};
      for (const [name, l] of running) if (l.tls) stats[name] = l.tls.stats();
      send({ type: 'stats', stats });
    } else if (m === 'connections') {
      send({ type: 'connections', count: broker.connections.size });
    }
  });
  // The parent going away ends the child: no orphan broker.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', ports });
}

main().catch((err: unknown) => {
  process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies ChildReply);
  process.exitCode = 1;
  process.disconnect?.();
});
