/**
 * Watches files for hot reload. Directories are watched, not the files: tools replace a certificate
 * by renaming a new file over it, which ends a watch on the old file. Each file's handler runs once
 * the directory has been quiet for `debounceMs` (an editor or deployment writes several times).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export interface FileWatch {
  close(): void;
}

export function watchFiles(
  handlers: Array<[file: string, onChange: () => void]>, debounceMs: number, onWatchError: (dir: string, err: Error) => void,
): FileWatch {
  const timers = new Map<() => void, NodeJS.Timeout>();
  const debounced = (fn: () => void) => (): void => {
    clearTimeout(timers.get(fn));
    timers.set(fn, setTimeout(() => {
      timers.delete(fn);
      fn();
    }, debounceMs));
  };
  const byDir = new Map<string, Map<string, () => void>>();
  const wrapped = new Map<() => void, () => void>();
  for (const [file, fn] of handlers) {
    const abs = resolve(file);
    if (!wrapped.has(fn)) wrapped.set(fn, debounced(fn));
    if (!byDir.has(dirname(abs))) byDir.set(dirname(abs), new Map());
    byDir.get(dirname(abs))!.set(basename(abs), wrapped.get(fn)!);
  }
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, (_event, file) => {
        if (file) names.get(basename(file.toString()))?.();
      });
      w.on('error', (err) => onWatchError(dir, err));
      w.unref();
      watchers.push(w);
    } catch (err) {
      onWatchError(dir, err as Error);
    }
  }
  return {
    close() {
      for (const w of watchers) w.close();
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
