/** `moat broker`: load the configuration, make the dev PKI when needed, start listeners, print how to connect. */
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Broker } from '../broker/broker.js';
import { startListener, parseListenUrl, type ListenerSpec, type RunningListener } from '../broker/listeners.js';
import { startSysTopics } from '../broker/sys-topics.js';
import { listenerTlsOptions, prepareTls, type TlsLog } from '../security/tls-listener.js';
import { ensureDevPki } from '../security/dev-pki.js';
import { openStore } from './open-store.js';
import { anonymousPolicy, plainListenerWarnings, setupAuth } from './auth-setup.js';
import { resolveBrokerConfig, type BrokerConfig, type ListenerConfig } from './broker-config.js';
import { readClientProfile, writeClientProfile } from './client-args.js';
import { startConsole, type StartedConsole } from './ssh-setup.js';
import { VERSION } from './version.js';

export const BROKER_HELP = `moat broker — run the MQTT broker

Usage: moat broker [options]

Options:
  -c, --config FILE         YAML configuration file (see docs/configuration.md)
  -l, --listen URL          listener, repeatable: mqtt://, mqtts://, ws://, wss:// host:port
                            (default: mqtts://0.0.0.0:8883 only)
      --data-dir DIR        where the dev PKI and data live (default ./.moat)
      --store S             sqlite (default, <data-dir>/data/moat.db), memory, or a redis:// URL
      --allow-anonymous V   loopback (default: only on listeners bound to loopback), true or false
      --password-file FILE  check usernames and passwords against FILE (made by moat passwd)
      --acl-file FILE       authorize publish and subscribe with the ACL in FILE
      --ssh HOST:PORT       SSH console (docs/ssh.md); keys in <data-dir>/ssh/authorized_keys
      --limit NAME=VALUE    set a limit, repeatable (e.g. --limit maxPacketSize=65536)
      --log-level LEVEL     fatal, error, warn (default), info, debug, trace, silent
  -h, --help                this help
`;

export interface Io {
  out(s: string): void;
  err(s: string): void;
  env: Record<string, string | undefined>;
  /** SIGINT/SIGTERM once; SIGHUP every time. */
  onSignal(signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP', fn: () => void): void;
}

export async function brokerCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args, allowPositionals: false, strict: true,
    options: {
      config: { type: 'string', short: 'c' }, listen: { type: 'string', short: 'l', multiple: true },
      'data-dir': { type: 'string' }, store: { type: 'string' }, 'allow-anonymous': { type: 'string' }, limit: { type: 'string', multiple: true },
      'password-file': { type: 'string' }, 'acl-file': { type: 'string' }, ssh: { type: 'string' },
      'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.out(BROKER_HELP);
    return 0;
  }
  const limits = (values.limit ?? []).map((kv): [string, string] => {
    const eq = kv.indexOf('=');
    return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
  });
  const cfg = resolveBrokerConfig({
    config: values.config, listen: values.listen ?? [], dataDir: values['data-dir'], store: values.store,
    logLevel: values['log-level'], allowAnonymous: values['allow-anonymous'], limits,
    passwordFile: values['password-file'], aclFile: values['acl-file'], ssh: values.ssh,
  }, io.env);
  const log = pino({ level: cfg.logLevel, redact: ['password', '*.password'] }, pino.destination(2));
  for (const w of plainListenerWarnings(cfg)) io.err(w);
  const anonymous = anonymousPolicy(cfg);
  // Before the store opens: a broken password file, key or ACL stops the start with nothing to undo.
  const auth = await setupAuth(cfg, log);
  const store = await openStore(cfg.store, cfg.dataDir, log);
  const broker = new Broker({ ...cfg.broker, allowAnonymous: anonymous.allowAnonymous }, { log, store, hooks: auth.hooks });
  await broker.restore();
  const specs = await listenerSpecs(cfg, io, log);
  const running: RunningListener[] = [];
  try {
    for (const spec of specs) running.push(await startListener(broker, spec));
  } catch (err) {
    await Promise.all(running.map((l) => l.close()));
    await broker.close();
    throw err;
  }
  const stopSys = startSysTopics(broker, cfg.broker.sysInterval, VERSION, () => tlsCounters(running));
  // The SSH console (docs/ssh.md): a missing or broken key file stops the start, like a broken TLS file.
  let ssh: StartedConsole | undefined;
  if (cfg.ssh) {
    try {
      ssh = await startConsole(cfg.ssh, { broker, running, dataDir: cfg.dataDir, storeName: cfg.store.type, reloadAuth: () => auth.reload(), log });
    } catch (err) {
      stopSys();
      await Promise.all(running.map((l) => l.close()));
      await broker.close();
      throw err;
    }
  }
  // SIGHUP: TLS files (certificates, keys, CAs, CRLs, PSK files), the password file, JWT keys and the
  // ACL are read again; live connections stay, and a broken file keeps the old one.
  io.onSignal('SIGHUP', () => {
    for (const l of running) void l.tls?.reload();
    void auth.reload();
    void ssh?.reload().then(() => log.info({}, 'ssh authorized keys reloaded'), (err: unknown) =>
      log.error({ code: (err as { code?: string }).code }, 'ssh authorized keys reload failed: the previous ones stay in force'));
  });
  printBanner(io, { ...cfg, broker: { ...cfg.broker, allowAnonymous: anonymous.allowAnonymous } }, running);
  if (ssh) io.out(`${ssh.banner.join('\n')}\n`);
  // Runs until SIGINT/SIGTERM, or until the store fails (fail-stop: exit 1 so a supervisor restarts it).
  const failed = await new Promise<boolean>((resolve) => {
    io.onSignal('SIGINT', () => resolve(false));
    io.onSignal('SIGTERM', () => resolve(false));
    broker.once('storeFailed', () => resolve(true));
  });
  stopSys();
  await ssh?.close();
  broker.shutdown();
  await Promise.all(running.map((l) => l.close()));
  await store.close().catch(() => undefined);
  io.err(failed ? 'moat broker stopped: the store failed (see the log); restart it to recover from the store\n' : 'moat broker stopped\n');
  return failed ? 1 : 0;
}

async function listenerSpecs(cfg: BrokerConfig, io: Io, log: TlsLog): Promise<ListenerSpec[]> {
  const specs: ListenerSpec[] = [];
  for (const l of cfg.listeners) {
    const scheme = parseListenUrl(l.url).scheme;
    if (scheme !== 'mqtts' && scheme !== 'wss') {
      specs.push({ url: l.url });
      continue;
    }
    specs.push({ url: l.url, tls: await tlsFor(l, cfg, io, log) });
  }
  return specs;
}

async function tlsFor(l: ListenerConfig, cfg: BrokerConfig, io: Io, log: TlsLog): Promise<NonNullable<ListenerSpec['tls']>> {
  let defaults: { certFile: string; keyFile: string; caFile?: string } | undefined;
  if (!l.cert || !l.key) {
    const pki = await ensureDevPki(join(cfg.dataDir, 'pki'));
    if (pki.created) io.err(`moat: created a development CA and server certificate in ${pki.dir}\n`);
    if (pki.device) {
      const device = pki.device;
      const profile = await writeClientProfile(cfg.dataDir, { ca: pki.caCertPath, cert: device.certPath, key: device.keyPath }, false);
      if (profile.created) io.err(`moat: wrote the client profile ${profile.path} (device ${device.id})\n`);
    }
    defaults = { certFile: pki.serverCertPath, keyFile: pki.serverKeyPath, caFile: pki.caCertPath };
  }
  const { cert: _c, key: _k, ...rest } = l;
  // With the dev PKI, its device certificates (the client profile's) are verified when presented: they
  // are how `moat pub`/`moat sub` authenticate where anonymous clients are refused (no loopback listener).
  const keys = defaults ? { ca: defaults.caFile, ...rest } : l;
  return prepareTls(listenerTlsOptions({ ticketKeyFile: join(cfg.dataDir, 'pki', 'tickets.key'), ...keys }, defaults ?? { certFile: l.cert!, keyFile: l.key! }), log, l.url);
}

/** Full, resumed, PSK, failed and rejected TLS handshakes summed over the listeners, for $SYS. */
function tlsCounters(running: RunningListener[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const l of running) {
    if (!l.tls) continue;
    for (const [k, v] of Object.entries(l.tls.stats())) sum[`tls/handshakes/${k}`] = (sum[`tls/handshakes/${k}`] ?? 0) + (v as number);
  }
  return sum;
}

/** One write, so a reader sees the whole banner at once. */
function printBanner(io: Io, cfg: BrokerConfig, running: RunningListener[]): void {
  const lines = [`moat broker ${VERSION}`, ...running.map((l) => `  listening on ${l.url}`)];
  const tls = running.find((l) => l.url.startsWith('mqtts://'));
  const plain = running.find((l) => l.url.startsWith('mqtt://'));
  const ca = relative('.', join(cfg.dataDir, 'pki', 'ca.crt')) || 'ca.crt';
  const usesDevPki = cfg.listeners.some((l) => l.url.startsWith('mqtts://') && !l.cert);
  // A hand-edited profile that does not parse is moat pub/sub's error to report, not a reason to stop the broker.
  let profile: ReturnType<typeof readClientProfile>;
  try {
    profile = usesDevPki ? readClientProfile(cfg.dataDir) : undefined;
  } catch {
    profile = undefined;
  }
  if (tls) {
    const caFlag = usesDevPki ? ` --cafile ${ca}` : '';
    // With the profile in ./.moat and the default port, no flag is needed.
    const bare = profile && tls.address.port === 8883 && resolve(cfg.dataDir) === resolve('.moat');
    // Anonymous clients refused (no listener on loopback): the device certificate is the credential.
    const certFlags = cfg.broker.allowAnonymous === false && profile?.cert && profile.key
      ? ` --cert ${relative('.', profile.cert) || profile.cert} --key ${relative('.', profile.key) || profile.key}` : '';
    lines.push('', 'Subscribe to everything (TLS, server verified against the dev CA):',
      bare ? `  moat sub -t '#' -v` : `  moat sub -h localhost -p ${tls.address.port}${caFlag} -t '#' -v`,
      `  mosquitto_sub -h localhost -p ${tls.address.port}${caFlag}${certFlags} -t '#' -v`);
  } else if (plain) {
    const host = plain.address.host === '0.0.0.0' ? '127.0.0.1' : plain.address.host;
    lines.push('', 'Subscribe to everything (plain TCP: readable by anyone on the path):',
      `  moat sub -h ${host} -p ${plain.address.port} -t '#' -v`,
      `  mosquitto_sub -h ${host} -p ${plain.address.port} -t '#' -v`);
  }
  if (profile) {
    const show = (p: string): string => relative('.', p) || p;
    lines.push('', 'Dev PKI (moat certs issue --device ID makes more device certificates):', `  CA              ${show(profile.ca)}`,
      ...(profile.cert ? [`  device cert     ${show(profile.cert)}`] : []), `  client profile  ${show(profile.path)} (moat pub/sub in this folder use it)`);
  }
  io.out(lines.join('\n') + '\n');
}
