/**
 * The compiled ACL: who may publish, subscribe and receive. Deny by default, deny wins, `$SYS` for
 * admins only. Three rights (docs/security.md, "Access control (ACL)"):
 *
 *   publish   — send a PUBLISH (or will) to a topic                       granted by write, readwrite
 *   subscribe — send a SUBSCRIBE whose filter lies within the rule          granted by read, subscribe, readwrite
 *   receive   — be delivered a message published on a topic               granted by read, receive, readwrite
 *
 * A SUBSCRIBE is allowed only when its whole filter lies within one rule granting subscribe and within
 * one rule granting receive, and no deny rule can match any topic of it; so canSubscribe(f) implies
 * canReceive(t) for every topic t that f matches (a property test holds us to it).
 *
 * Speed: rules are grouped per principal at compile time (Map by user name, client id, cert CN), so a
 * check never looks at other principals' rules. The rules that apply to one identity (its blocks plus the
 * patterns with its %u / %c substituted) are compiled once into a `Grants` indexed by first topic level
 * and cached per identity; a check then only tries the rules whose first level is the topic's or a
 * wildcard.
 */
import { isValidTopicName, parseSharedFilter, topicFilterError, topicMatches } from '../codec/index.js';
import { filterWithin, filtersOverlap } from './acl-filters.js';
import { parseAclDocument, type AclAccess, type AclDocument, type AclRuleLine } from './acl-parse.js';

export { AclParseError, type AclAccess, type AclDocument } from './acl-parse.js';

/** Who asks. `certCn` is the CN of a verified client certificate; `admin` may also come from elsewhere. */
export interface AclIdentity {
  username?: string | undefined;
  clientId: string;
  certCn?: string | undefined;
  admin?: boolean | undefined;
}

const RECEIVE = 1;
const PUBLISH = 2;
const SUBSCRIBE = 4;
const RIGHTS: Record<Exclude<AclAccess, 'deny'>, number> = {
  read: RECEIVE | SUBSCRIBE,
  receive: RECEIVE,
  subscribe: SUBSCRIBE,
  write: PUBLISH,
  readwrite: RECEIVE | SUBSCRIBE | PUBLISH,
};

/** How many identities keep their compiled grants; past it the oldest is recompiled when it returns. */
const GRANTS_CACHE_SIZE = 10_000;

interface Rule {
  filter: string;
  levels: string[];
  rights: number;
}

/** Rules by their first level; rules whose first level is a wildcard apply to every first level. */
class RuleIndex {
  readonly byFirst = new Map<string, Rule[]>();
  readonly wild: Rule[] = [];
  readonly all: Rule[] = [];

  add(rule: Rule): void {
    this.all.push(rule);
    const first = rule.levels[0]!;
    if (first === '+' || first === '#') this.wild.push(rule);
    else {
      const list = this.byFirst.get(first);
      if (list) list.push(rule);
      else this.byFirst.set(first, [rule]);
    }
  }

  /** Rules that can match a topic or filter starting with the literal level `first`. */
  forLiteral(first: string): readonly Rule[] {
    const list = this.byFirst.get(first);
    if (list === undefined) return this.wild;
    if (this.wild.length === 0) return list;
    return list.concat(this.wild);
  }
}

interface Grants {
  allow: RuleIndex;
  deny: RuleIndex;
  admin: boolean;
}

const firstLevel = (topic: string): string => {
  const slash = topic.indexOf('/');
  return slash < 0 ? topic : topic.slice(0, slash);
};

const isSys = (topicOrFilter: string): boolean => topicOrFilter === '$SYS' || topicOrFilter.startsWith('$SYS/');

/**
 * May this identity's value stand in for %u / %c? A value holding a wildcard or a level separator would
 * turn `devices/%u/#` into `devices/+/#` or reach another user's subtree; a leading `$` would reach the
 * broker's own namespace. Such identities match no pattern line that names them.
 */
function substitutable(value: string | undefined): value is string {
  return value !== undefined && value !== '' && !/[+#/\u0000]/.test(value) && !value.startsWith('$');
}

function toRule(filter: string, rights: number): Rule {
  return { filter, levels: filter.split('/'), rights };
}

export class Acl {
  readonly source: string;
  private readonly users = new Map<string, AclRuleLine[]>();
  private readonly clients = new Map<string, AclRuleLine[]>();
  private readonly certs = new Map<string, AclRuleLine[]>();
  private readonly admins = { user: new Set<string>(), client: new Set<string>(), cert: new Set<string>() };
  private readonly anonymous: AclRuleLine[];
  private readonly patterns: AclRuleLine[];
  private readonly cache = new Map<string, Grants>();

  constructor(doc: AclDocument) {
    this.source = doc.source;
    this.anonymous = doc.anonymous;
    this.patterns = doc.patterns;
    const maps = { user: this.users, client: this.clients, cert: this.certs };
    for (const b of doc.blocks) {
      // Repeated blocks for one name add up, as in Mosquitto.
      const map = maps[b.kind];
      let list = map.get(b.name);
      if (list === undefined) map.set(b.name, (list = []));
      for (const r of b.rules) list.push(r); // no spread: a block may hold more rules than the stack has room
      if (b.admin) this.admins[b.kind].add(b.name);
    }
  }

  /** True when this identity reads `$SYS` (marked `admin` in the file or by the caller). */
  isAdmin(id: AclIdentity): boolean {
    return this.grants(id).admin;
  }

  canPublish(id: AclIdentity, topic: string): boolean {
    if (!isValidTopicName(topic) || isSys(topic)) return false; // nobody writes $SYS
    const g = this.grants(id);
    const first = firstLevel(topic);
    for (const r of g.deny.forLiteral(first)) if (topicMatches(r.filter, topic)) return false;
    for (const r of g.allow.forLiteral(first)) if ((r.rights & PUBLISH) !== 0 && topicMatches(r.filter, topic)) return true;
    return false;
  }

  canReceive(id: AclIdentity, topic: string): boolean {
    if (!isValidTopicName(topic)) return false;
    const g = this.grants(id);
    if (isSys(topic) && !g.admin) return false;
    const first = firstLevel(topic);
    for (const r of g.deny.forLiteral(first)) if (topicMatches(r.filter, topic)) return false;
    for (const r of g.allow.forLiteral(first)) if ((r.rights & RECEIVE) !== 0 && topicMatches(r.filter, topic)) return true;
    return false;
  }

  /** `$share/{group}/{filter}` is checked as `filter`; the group name is not part of the ACL. */
  canSubscribe(id: AclIdentity, topicFilter: string): boolean {
    if (topicFilterError(topicFilter) !== undefined) return false;
    const filter = parseSharedFilter(topicFilter)?.filter ?? topicFilter;
    const g = this.grants(id);
    if (isSys(filter) && !g.admin) return false;
    const levels = filter.split('/');
    const first = levels[0]!;
    const wildFirst = first === '+' || first === '#';
    // Deny wins as soon as a deny rule shares one topic with the filter (a wildcard first level can share
    // topics with rules of any first level).
    for (const r of wildFirst ? g.deny.all : g.deny.forLiteral(first)) if (filtersOverlap(levels, r.levels)) return false;
    // Only rules with a wildcard first level can contain a filter whose first level is a wildcard.
    let subscribe = false;
    let receive = false;
    for (const r of wildFirst ? g.allow.wild : g.allow.forLiteral(first)) {
      if ((r.rights & (SUBSCRIBE | RECEIVE)) === 0 || !filterWithin(levels, r.levels)) continue;
      subscribe ||= (r.rights & SUBSCRIBE) !== 0;
      receive ||= (r.rights & RECEIVE) !== 0;
      if (subscribe && receive) return true;
    }
    return false;
  }

  private grants(id: AclIdentity): Grants {
    const key = JSON.stringify([id.username ?? null, id.clientId, id.certCn ?? null, id.admin === true]);
    let g = this.cache.get(key);
    if (g === undefined) {
      g = this.compile(id);
      if (this.cache.size >= GRANTS_CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, g);
    }
    return g;
  }

  private compile(id: AclIdentity): Grants {
    const g: Grants = { allow: new RuleIndex(), deny: new RuleIndex(), admin: id.admin === true };
    const add = (filter: string, access: AclAccess): void => {
      if (access === 'deny') g.deny.add(toRule(filter, 0));
      else g.allow.add(toRule(filter, RIGHTS[access]));
    };
    const addLines = (lines: readonly AclRuleLine[] | undefined): void => {
      for (const l of lines ?? []) add(l.filter, l.access);
    };
    if (id.username !== undefined) {
      addLines(this.users.get(id.username));
      g.admin ||= this.admins.user.has(id.username);
    }
    addLines(this.clients.get(id.clientId));
    g.admin ||= this.admins.client.has(id.clientId);
    if (id.certCn !== undefined) {
      addLines(this.certs.get(id.certCn));
      g.admin ||= this.admins.cert.has(id.certCn);
    }
    if (id.username === undefined && id.certCn === undefined) addLines(this.anonymous);
    const u = substitutable(id.username) ? id.username : undefined;
    const c = substitutable(id.clientId) ? id.clientId : undefined;
    for (const p of this.patterns) {
      if ((p.filter.includes('%u') && u === undefined) || (p.filter.includes('%c') && c === undefined)) continue;
      const filter = p.filter.replace(/%([uc])/g, (_m, which: string) => (which === 'u' ? u! : c!));
      // The stand-in check at parse time cannot see every value ("a%u" with u = "…" stays valid, but be sure).
      if (topicFilterError(filter) === undefined && parseSharedFilter(filter) === undefined) add(filter, p.access);
    }
    if (g.admin) add('$SYS/#', 'read');
    return g;
  }
}

/** Parses and compiles ACL text; throws AclParseError (a MoatError, code MOAT_ERR_ACL) with the line. */
export function parseAcl(text: string, source?: string): Acl {
  return new Acl(parseAclDocument(text, source));
}
