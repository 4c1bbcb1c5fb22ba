/**
 * The ACL file's text → a checked document (no matching here; acl.ts compiles it). The format is
 * Mosquitto's acl_file, extended (docs/security.md, "Access control (ACL)"):
 *
 *   # comment                         blank lines and lines starting with '#' are ignored
 *   topic [ACCESS] FILTER             before any block: anonymous clients (no username, no certificate)
 *   user NAME | client ID | cert CN   starts a block: the lines after it apply to that identity
 *   admin                             inside a block: that identity may read $SYS
 *   topic [ACCESS] FILTER             inside a block: a rule for that identity
 *   pattern [ACCESS] FILTER           anywhere: a rule for every client, %u → username, %c → client id
 *
 * ACCESS is read | write | readwrite | subscribe | receive | deny (default readwrite, as in Mosquitto).
 * Every mistake is an error with its line number: a file that half-parses must not half-apply.
 */
import { MoatError, parseSharedFilter, topicFilterError } from '../codec/index.js';

export type AclAccess = 'read' | 'write' | 'readwrite' | 'subscribe' | 'receive' | 'deny';
export type AclBlockKind = 'user' | 'client' | 'cert';

export interface AclRuleLine {
  access: AclAccess;
  /** As written; for pattern lines still holding %u / %c. */
  filter: string;
  line: number;
}

export interface AclBlock {
  kind: AclBlockKind;
  name: string;
  admin: boolean;
  rules: AclRuleLine[];
  line: number;
}

export interface AclDocument {
  source: string;
  /** `topic` lines before the first block: clients with neither username nor certificate. */
  anonymous: AclRuleLine[];
  /** `pattern` lines, wherever they stand (as in Mosquitto they apply to every client). */
  patterns: AclRuleLine[];
  blocks: AclBlock[];
}

/** A MoatError that also says where: `source` (file path or label) and 1-based `line`. */
export class AclParseError extends MoatError {
  readonly source: string;
  readonly line: number;

  constructor(source: string, line: number, message: string) {
    super('MOAT_ERR_ACL', `${source}:${line}: ${message}`);
    this.source = source;
    this.line = line;
  }
}

const ACCESS = new Set<string>(['read', 'write', 'readwrite', 'subscribe', 'receive', 'deny']);
const BLOCKS = new Set<string>(['user', 'client', 'cert']);
const PLACEHOLDER = /%[uc]/;

/** Splits "keyword rest of line" at the first run of blanks; the rest keeps inner spaces (names may hold them). */
function head(text: string): [string, string] {
  const m = /^(\S+)(?:[ \t]+(.*))?$/.exec(text);
  return m ? [m[1]!, (m[2] ?? '').trim()] : ['', ''];
}

function ruleLine(source: string, n: number, keyword: string, rest: string): AclRuleLine {
  if (rest === '') throw new AclParseError(source, n, `${keyword} needs a topic filter`);
  const [first, after] = head(rest);
  let access: AclAccess = 'readwrite';
  let filter = rest;
  if (ACCESS.has(first)) {
    if (after === '') throw new AclParseError(source, n, `${keyword} ${first} needs a topic filter`);
    access = first as AclAccess;
    filter = after;
  }
  if (keyword === 'topic' && PLACEHOLDER.test(filter)) {
    // Mosquitto would take %u literally here; a rule that silently never matches is a trap.
    throw new AclParseError(source, n, '%u and %c are substituted in pattern lines only');
  }
  if (parseSharedFilter(filter) !== undefined) {
    throw new AclParseError(source, n, 'rules name the filter, not $share/…: shared subscriptions are checked against their filter');
  }
  // Placeholders stand for one whole level or part of one; validate with a harmless stand-in.
  const problem = topicFilterError(filter.replace(/%[uc]/g, 'x'));
  if (problem !== undefined) throw new AclParseError(source, n, `invalid topic filter "${filter}": ${problem}`);
  return { access, filter, line: n };
}

/** Parses ACL text; throws AclParseError (code MOAT_ERR_ACL) with the line of the first mistake. */
export function parseAclDocument(text: string, source = 'acl'): AclDocument {
  const doc: AclDocument = { source, anonymous: [], patterns: [], blocks: [] };
  let block: AclBlock | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/); // a BOM from a Windows editor is not a keyword
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const trimmed = lines[i]!.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [keyword, rest] = head(trimmed);
    if (BLOCKS.has(keyword)) {
      if (rest === '') throw new AclParseError(source, n, `${keyword} needs a name`);
      block = { kind: keyword as AclBlockKind, name: rest, admin: false, rules: [], line: n };
      doc.blocks.push(block);
    } else if (keyword === 'admin') {
      if (rest !== '') throw new AclParseError(source, n, 'admin takes no argument');
      if (block === undefined) throw new AclParseError(source, n, 'admin must follow a user, client or cert line');
      block.admin = true;
    } else if (keyword === 'topic') {
      (block?.rules ?? doc.anonymous).push(ruleLine(source, n, keyword, rest));
    } else if (keyword === 'pattern') {
      doc.patterns.push(ruleLine(source, n, keyword, rest));
    } else {
      throw new AclParseError(source, n, `unknown keyword "${keyword}" (expected topic, pattern, user, client, cert or admin)`);
    }
  }
  return doc;
}
