import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** All .ts files under `dir`, recursively, as relative paths with forward slashes. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path.split('\\').join('/'));
  }
  return out.sort();
}
