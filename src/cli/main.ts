#!/usr/bin/env node
/** The `moat` command: the only place that reads argv and writes to the terminal. */
import { argv, exit, stdout, stderr } from 'node:process';

const HELP = `moat — secure-by-default MQTT

Usage: moat <command> [options]

Commands:
  broker       run the MQTT broker (coming with the broker issue)
  help         show this help

Options:
  -h, --help   show this help
  --version    print the version
`;

async function main(args: string[]): Promise<number> {
  const [command] = args;
  if (command === undefined || command === 'help' || command === '-h' || command === '--help') {
    stdout.write(HELP);
    return 0;
  }
  if (command === '--version') {
    stdout.write('0.1.0\n');
    return 0;
  }
  if (command === 'broker') {
    stderr.write('moat broker: not built yet; it arrives with the broker issue.\n\n');
    stdout.write(HELP);
    return 0;
  }
  stderr.write(`moat: unknown command "${command}"\n\n${HELP}`);
  return 2;
}

main(argv.slice(2)).then((code) => exit(code), (err: unknown) => {
  stderr.write(`moat: ${err instanceof Error ? err.message : String(err)}\n`);
  exit(1);
});
