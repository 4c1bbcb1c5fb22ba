/**
 * The device agent's install hook: a callback (library use) or a shell command. The command runs as
 * `sh -c '<command> "$1"' sh <imagePath>` — the path is an argument, never spliced into the command line —
 * with MOAT_FW_IMAGE, MOAT_FW_VERSION and MOAT_FW_PRODUCT in its environment. A non-zero exit, a signal,
 * a command that cannot start or a callback that throws: MOAT_ERR_FW_INSTALL, with the end of the
 * command's stderr in the reason.
 *
 *   runInstallHook(hook, imagePath, manifest)
 */
import { spawn } from 'node:child_process';
import { isMoatError } from '../codec/index.js';
import { FwErr, fwError } from './errors.js';
import type { Manifest } from './manifest.js';

/** A callback (library use) or a shell command run as `sh -c '<command> "$1"' sh <imagePath>`. */
export type InstallHook = ((imagePath: string, manifest: Manifest) => Promise<void>) | { command: string };

const STDERR_TAIL = 300;

function runCommand(command: string, imagePath: string, m: Manifest): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `${command} "$1"`, 'sh', imagePath], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MOAT_FW_IMAGE: imagePath, MOAT_FW_VERSION: m.version, MOAT_FW_PRODUCT: m.product },
    });
    // The end of its stderr goes into the failure's reason (the device's status): bounded, it is published.
    let tail = '';
    child.stderr!.on('data', (d: Buffer) => { tail = (tail + d.toString()).slice(-STDERR_TAIL); });
    child.once('error', (e) => reject(fwError(FwErr.install, `install command could not start: ${e.message}`, e)));
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      const why = signal ? `killed by ${signal}` : `exited with ${code}`;
      reject(fwError(FwErr.install, `install command ${why}${tail.trim() ? `: ${tail.trim()}` : ''}`));
    });
  });
}

export async function runInstallHook(hook: InstallHook, imagePath: string, m: Manifest): Promise<void> {
  if (typeof hook !== 'function') return runCommand(hook.command, imagePath, m);
  try {
    await hook(imagePath, m);
  } catch (e) {
    if (isMoatError(e) && e.code === FwErr.install) throw e;
    throw fwError(FwErr.install, `install hook failed: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}
