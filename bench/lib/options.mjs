/**
 * The benchmarks' command line: `--name`, `--name=value`, and `--name value` for the names that take
 * a value. What is not a known option ends the process with exit code 2 (naming the known ones);
 * `--help` prints the header comment of the benchmark's own file and exits 0.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * file: the benchmark's import.meta.url (its header comment is the help text); valued: names that take
 * a value; flags: names that may stand alone (`--json` or `--json=FILE`). Returns name → string | true.
 */
export function parseOptions(file, { valued, flags }, argv = process.argv.slice(2)) {
  const known = [...flags, ...valued, 'help'];
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.replace(/^--/, '').split('=')[0];
    if (!a.startsWith('--') || !known.includes(name)) {
      process.stderr.write(`bench: unknown argument ${a}; known: ${known.map((k) => `--${k}`).join(' ')}\n`);
      process.exit(2);
    }
    if (a.includes('=')) opts[name] = a.slice(a.indexOf('=') + 1);
    else if (valued.includes(name) && i + 1 < argv.length && !argv[i + 1].startsWith('--')) opts[name] = argv[++i];
    else opts[name] = true;
  }
  if (opts.help) {
    process.stdout.write(readFileSync(fileURLToPath(file), 'utf8').split('*/')[0] + '*/\n');
    process.exit(0);
  }
  return opts;
}
