/**
 * Starts the SSH console next to the broker's listeners (docs/ssh.md): the ConsolePort adapter over
 * the Broker with what only the CLI knows (listeners, store, TLS counters, how to reload), then the
 * server. `reload` is the same as SIGHUP: TLS material, password/JWT/ACL files, the console's keys.
 */
import type { Broker } from '../broker/broker.js';
import type { Logger } from '../broker/logger.js';
import type { RunningListener } from '../broker/listeners.js';
import { BrokerConsole } from '../ssh/broker-adapter.js';
import { startSshConsole, type RunningSshConsole } from '../ssh/server.js';
import { groupExchangeAvailable } from '../ssh/algorithms.js';
import { sshPaths, type SshConfig } from './ssh-config.js';

export interface ConsoleDeps {
  broker: Broker;
  running: RunningListener[];
  dataDir: string;
  storeName: string;
  /** Reloads the broker's authentication files (auth-setup's reload). */
  reloadAuth: () => Promise<void>;
  log: Logger;
}

export interface StartedConsole {
  ssh: RunningSshConsole;
  /** Lines for the start banner: where, and the host key fingerprints to compare on first login. */
  banner: string[];
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function startConsole(cfg: SshConfig, deps: ConsoleDeps): Promise<StartedConsole> {
  const paths = sshPaths(cfg, deps.dataDir);
  let ssh: RunningSshConsole | undefined;
  const port = new BrokerConsole(deps.broker, {
    listeners: () => deps.running.map((l) => l.url),
    store: deps.storeName,
    tlsStats: () => tlsCounters(deps.running),
    reload: async () => {
      await Promise.all(deps.running.map((l) => l.tls?.reload()));
      await deps.reloadAuth();
      await ssh?.reload();
      return ['tls', 'auth files', 'ssh authorized keys'];
    },
  });
  try {
    ssh = await startSshConsole({
      host: cfg.listen.host, port: cfg.listen.port, hostKeyDir: paths.hostKeyDir, authorizedKeysFile: paths.authorizedKeys,
      auditFile: paths.auditFile, console: port, log: deps.log,
      ...(cfg.passwordFile !== undefined ? { passwordFile: cfg.passwordFile } : {}),
      ...(cfg.passwordRole !== undefined ? { passwordRole: cfg.passwordRole } : {}),
    });
  } catch (err) {
    port.close();
    throw err;
  }
  const running = ssh;
  if (!groupExchangeAvailable()) deps.log.warn({}, 'ssh console: ssh2 is not patched (scripts/patch-ssh2.mjs); diffie-hellman-group-exchange-sha256 is not offered');
  const host = running.address.host === '0.0.0.0' || running.address.host === '::' ? 'localhost' : running.address.host;
  return {
    ssh: running,
    banner: [
      '',
      `SSH console on ${running.address.host}:${running.address.port} (${paths.authorizedKeys}: ${running.auth.keyCount} key${running.auth.keyCount === 1 ? '' : 's'}):`,
      `  ssh -p ${running.address.port} admin@${host} status`,
      ...running.hostKeys.map((k) => `  host key ${k.type} ${k.fingerprint}`),
    ],
    reload: () => running.reload(),
    async close() {
      await running.close();
      port.close();
    },
  };
}

function tlsCounters(running: RunningListener[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const l of running) {
    if (!l.tls) continue;
    for (const [k, v] of Object.entries(l.tls.stats())) sum[k] = (sum[k] ?? 0) + (v as number);
  }
  return sum;
}
