#!/usr/bin/env node
/** The `moat` command: the only place that reads argv and writes to the terminal. */
import { argv, env, exit, stderr, stdout } from 'node:process';
import { isMoatError } from '../codec/index.js';
import { brokerCommand, type Io } from './broker-command.js';
import { certsCommand } from './certs-command.js';
import { fwCommand } from './fw-command.js';
import { labCommand } from './lab-command.js';
import { passwdCommand } from './passwd-command.js';
import { pubCommand } from './pub-command.js';
import { subCommand } from './sub-command.js';
import { VERSION } from './version.js';

const HELP = `moat — secure-by-default MQTT

Usage: moat <command> [options]

Commands:
  broker       run the MQTT broker (TLS on 0.0.0.0:8883 by default)
  pub          publish messages (like mosquitto_pub)
  sub          subscribe and print messages (like mosquitto_sub)
  certs        dev PKI: certs init (CA, server, device, client profile), certs issue --device ID
  passwd       add, update (-D: delete) a user in a password file
  fw           signed firmware updates: keygen, sign, trust, push, status, agent
  lab          measure what each security mode costs here (tables, report.html); lab recommend
  help         show this help

Options:
  -h, --help   show this help (also: moat <command> --help)
  --version    print the version
`;

const io: Io = {
  out: (s) => stdout.write(s),
  err: (s) => stderr.write(s),
  env,
  onSignal: (signal, fn) => (signal === 'SIGHUP' ? process.on(signal, fn) : process.once(signal, fn)),
};

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === 'help' || command === '-h' || command === '--help') {
    io.out(HELP);
    return 0;
  }
  if (command === '--version') {
    io.out(`${VERSION}\n`);
    return 0;
  }
  if (command === 'broker') return brokerCommand(rest, io);
  if (command === 'certs') return certsCommand(rest, io);
  if (command === 'fw') return fwCommand(rest, io);
  if (command === 'lab') return labCommand(rest, io);
  if (command === 'pub') return pubCommand(rest, io);
  if (command === 'passwd') return passwdCommand(rest, io);
  if (command === 'sub') return subCommand(rest, io);
  io.err(`moat: unknown command "${command}"\n\n${HELP}`);
  return 2;
}

main(argv.slice(2)).then((code) => exit(code), (err: unknown) => {
  // One clear line for what the user can fix; a stack only for what they cannot.
  if (isMoatError(err)) {
    io.err(`moat: ${err.message} (${err.code})\n`);
    exit(2);
  }
  if (String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
    io.err(`moat: ${(err as Error).message}\n`);
    exit(2);
  }
  io.err(`moat: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  exit(1);
});
