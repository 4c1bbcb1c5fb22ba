/**
 * The SSH console server: host keys, algorithms, authentication, then one `exec` command or an
 * interactive shell per session channel. Everything else (port forwarding, SFTP, agent, X11) is
 * refused. Output goes to the SSH channel only.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import ssh2, { type Connection, type ServerChannel, type Session } from 'ssh2';
import { silentLogger, type Logger } from '../broker/logger.js';
import type { LoginBackoff } from '../security/login-backoff.js';
import { consoleAlgorithms } from './algorithms.js';
import { AuditLog } from './audit.js';
import { SshAuth, type SshIdentity } from './auth.js';
import type { Role } from './authorized-keys.js';
import { completions, runCommandLine } from './commands/index.js';
import type { ConsolePort } from './console-port.js';
import { loadHostKeys, type HostKey } from './host-key.js';
import { Shell } from './shell.js';

export interface SshConsoleOptions {
  host: string;
  port: number;
  /** Where the host keys live (created 0700; the Ed25519 key is generated on first use). */
  hostKeyDir: string;
  authorizedKeysFile: string;
  passwordFile?: string;
  passwordRole?: Role;
  /** JSON lines of admin actions; undefined: the log only. */
  auditFile?: string;
  console: ConsolePort;
  log?: Logger;
  /** Failed authentication attempts on one connection before it is closed (default 6). */
  maxAuthTries?: number;
  /** A connection not logged in after this long is closed (default 30 s, like sshd's LoginGraceTime 30). */
  loginGraceMs?: number;
  backoff?: LoginBackoff;
}

export interface RunningSshConsole {
  address: { host: string; port: number };
  hostKeys: HostKey[];
  auth: SshAuth;
  audit: AuditLog;
  /** Reads the authorized keys (and password) files again. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function startSshConsole(opts: SshConsoleOptions): Promise<RunningSshConsole> {
  const log = opts.log ?? silentLogger;
  const hostKeys = await loadHostKeys(opts.hostKeyDir);
  const auth = await SshAuth.load({
    authorizedKeysFile: opts.authorizedKeysFile, log,
    ...(opts.passwordFile !== undefined ? { passwordFile: opts.passwordFile } : {}),
    ...(opts.passwordRole !== undefined ? { passwordRole: opts.passwordRole } : {}),
    ...(opts.backoff !== undefined ? { backoff: opts.backoff } : {}),
  });
  const audit = new AuditLog(opts.auditFile, log);
  const live = new Set<Connection>();
  const sockets = new Set<Socket>();
  /** `address|port` of sockets whose SSH connection has logged in: the grace timer spares them. */
  const loggedIn = new Set<string>();
  const graceMs = opts.loginGraceMs ?? 30_000;
  const server = new ssh2.Server({
    hostKeys: hostKeys.map((k) => k.key),
    algorithms: consoleAlgorithms(),
    ident: 'moat-console',
  }, (conn, info) => {
    live.add(conn);
    conn.on('close', () => live.delete(conn));
    handleConnection(conn, info.ip, {
      auth, audit, log, port: opts.console, maxTries: opts.maxAuthTries ?? 6,
      loggedIn: () => loggedIn.add(`${info.ip}|${info.port}`),
    });
  });
  // Our own listener, sockets handed to ssh2: ssh2 sees a connection only once the client's version
  // line arrived, so the login grace time must start at the socket to cover silent clients too.
  const listener = createServer((socket) => {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    sockets.add(socket);
    const grace = setTimeout(() => {
      if (loggedIn.has(key)) return;
      log.info({ remote: socket.remoteAddress }, 'ssh connection closed: not logged in in time');
      socket.destroy();
    }, graceMs);
    grace.unref();
    socket.once('close', () => {
      clearTimeout(grace);
      sockets.delete(socket);
      loggedIn.delete(key);
    });
    server.injectSocket(socket);
  });
  listener.on('error', (err: Error) => log.error({ err: err.message }, 'ssh console server error'));
  listener.listen(opts.port, opts.host);
  await Promise.race([once(listener, 'listening'), once(listener, 'error').then(([err]) => Promise.reject(err as Error))]);
  const addr = listener.address() as AddressInfo;
  return {
    address: { host: addr.address, port: addr.port }, hostKeys, auth, audit,
    reload: () => auth.reload(),
    async close() {
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      for (const c of live) c.end();
      for (const sock of sockets) sock.destroy();
      await closed;
      await audit.flush();
    },
  };
}

interface ConnDeps {
  auth: SshAuth;
  audit: AuditLog;
  log: Logger;
  port: ConsolePort;
  maxTries: number;
  loggedIn: () => void;
}

function handleConnection(conn: Connection, remote: string, deps: ConnDeps): void {
  const { auth, log } = deps;
  let identity: SshIdentity | undefined;
  let failures = 0;
  conn.on('authentication', (ctx) => {
    void auth.handle(ctx, remote).then((r) => {
      if (r.ok === true) {
        identity = r.identity;
        log.info({ remote, user: r.identity.user, role: r.identity.role, method: r.identity.method, key: r.identity.fingerprint }, 'ssh login');
      } else if (r.ok === false && r.counted && ++failures >= deps.maxTries) {
        log.warn({ remote, failures }, 'ssh connection closed: too many failed logins');
        conn.end();
      }
    }, (err: unknown) => {
      log.error({ remote, err: (err as Error).message }, 'ssh authentication error');
      conn.end();
    });
  });
  conn.on('ready', () => {
    deps.loggedIn();
    conn.on('session', (accept) => {
      if (!identity) return;
      handleSession(accept(), identity, deps);
    });
  });
  // Handshake failures (no common algorithm) and resets land here: logged, nothing else to do.
  conn.on('error', (err: Error & { level?: string }) => log.info({ remote, level: err.level, err: err.message }, 'ssh connection error'));
}

function handleSession(session: Session, identity: SshIdentity, deps: ConnDeps): void {
  let pty = false;
  session.on('pty', (accept) => {
    pty = true;
    accept?.();
  });
  session.on('window-change', (accept) => accept?.());
  session.on('env', (accept) => accept?.());
  session.on('exec', (accept, _reject, info) => {
    const channel = accept();
    const controller = new AbortController();
    const out = writer(channel, pty);
    channel.on('data', (d: Buffer) => {
      if (d.includes(0x03)) controller.abort();
    });
    channel.on('close', () => controller.abort());
    void runCommandLine(info.command, base(identity, deps, out, controller.signal)).then((status) => {
      if (channel.destroyed) return;
      channel.exit(status);
      channel.end();
    });
  });
  session.on('shell', (accept) => {
    const channel = accept();
    const out = writer(channel, true);
    let current: AbortSignal = new AbortController().signal;
    const shell = new Shell({
      write: out,
      end(status) {
        channel.exit(status);
        channel.end();
      },
    }, {
      prompt: `moat(${identity.role})> `,
      greeting: `Moat broker console, ${identity.role} "${identity.user}". Type help; exit or Ctrl-D to leave.\r\n`,
      run: (line, signal) => {
        current = signal;
        return runCommandLine(line, base(identity, deps, out, current));
      },
      complete: (line) => completions(line, deps.port),
    });
    channel.on('data', (d: Buffer) => shell.input(d));
    channel.on('close', () => shell.close());
    shell.start();
  });
  session.on('subsystem', (_accept, reject) => reject?.());
}

function base(identity: SshIdentity, deps: ConnDeps, out: (t: string) => void, signal: AbortSignal) {
  return {
    port: deps.port, identity, out, signal,
    audit: (entry: Parameters<AuditLog['record']>[1]) => deps.audit.record(identity, entry),
  };
}

/** With a pty the terminal wants CR LF; without one (scripts) plain LF. */
function writer(channel: ServerChannel, pty: boolean): (text: string) => void {
  return (text) => {
    if (channel.destroyed || !channel.writable) return;
    channel.write(pty ? text.replace(/\r?\n/g, '\r\n') : text);
  };
}
