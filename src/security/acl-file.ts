/**
 * An ACL loaded from a file, reloadable in place. `current` is what checks use; `reload()` reads and
 * compiles the file again and swaps only when that succeeds, so a broken edit (or a half-written file)
 * leaves the old table in force and the caller gets the error to log. No file watching here: whoever
 * wires the broker decides when to reload (SIGHUP, a watcher, an admin command).
 */
import { readFile } from 'node:fs/promises';
import { MoatError } from '../codec/index.js';
import { parseAcl, type Acl } from './acl.js';

export class AclFile {
  private acl: Acl;

  private constructor(readonly path: string, acl: Acl) {
    this.acl = acl;
  }

  /** Reads and compiles `path`; rejects with MoatError MOAT_ERR_ACL (unreadable file or a bad line). */
  static async load(path: string): Promise<AclFile> {
    return new AclFile(path, await compileFile(path));
  }

  /** The ACL in force: the last one that loaded without error. */
  get current(): Acl {
    return this.acl;
  }

  /** Loads the file again; on error rejects with MOAT_ERR_ACL and keeps the previous ACL. */
  async reload(): Promise<Acl> {
    const next = await compileFile(this.path);
    this.acl = next;
    return next;
  }
}

async function compileFile(path: string): Promise<Acl> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MoatError('MOAT_ERR_ACL', `cannot read ACL file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseAcl(text, path);
}
