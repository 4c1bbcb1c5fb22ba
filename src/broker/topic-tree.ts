/**
 * Subscriptions indexed by topic level, so matching costs the depth of the topic, not the number of
 * subscriptions. Shared subscriptions hang off the same tree by group. Match results are cached per
 * topic until the subscriptions change.
 */
import { parseSharedFilter } from '../codec/index.js';
import type { SubscriptionOptions } from './types.js';

export interface SharedGroup {
  name: string;
  filter: string;
  /** Members in join order; `next` walks them round robin. */
  members: Map<string, SubscriptionOptions>;
  next: number;
}

interface Node {
  children: Map<string, Node>;
  /** clientId → options of its subscription with exactly this filter. */
  subs: Map<string, SubscriptionOptions>;
  shared: Map<string, SharedGroup>;
}

export interface MatchResult {
  /** Plain subscriptions: [clientId, options], one per matching filter (a client may appear twice). */
  subs: Array<[string, SubscriptionOptions]>;
  shared: SharedGroup[];
}

const newNode = (): Node => ({ children: new Map(), subs: new Map(), shared: new Map() });
const CACHE_LIMIT = 10_000;

export class TopicTree {
  private readonly root = newNode();
  private readonly cache = new Map<string, MatchResult>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds or replaces; returns true when the client already had this subscription. */
  add(clientId: string, filter: string, options: SubscriptionOptions): boolean {
    this.cache.clear();
    const shared = parseSharedFilter(filter);
    const node = this.walk(shared ? shared.filter : filter, true)!;
    let existed: boolean;
    if (shared) {
      let group = node.shared.get(shared.group);
      if (!group) {
        group = { name: shared.group, filter: shared.filter, members: new Map(), next: 0 };
        node.shared.set(shared.group, group);
      }
      existed = group.members.has(clientId);
      group.members.set(clientId, options);
    } else {
      existed = node.subs.has(clientId);
      node.subs.set(clientId, options);
    }
    if (!existed) this.count++;
    return existed;
  }

  /** The group of a `$share/name/filter` subscription, if it has one. */
  group(sharedFilter: string): SharedGroup | undefined {
    const shared = parseSharedFilter(sharedFilter);
    return shared ? this.walk(shared.filter, false)?.shared.get(shared.group) : undefined;
  }

  /** Returns true when the subscription existed. */
  remove(clientId: string, filter: string): boolean {
    const shared = parseSharedFilter(filter);
    const levels = (shared ? shared.filter : filter).split('/');
    const path: Node[] = [this.root];
    let node: Node | undefined = this.root;
    for (const level of levels) {
      node = node.children.get(level);
      if (!node) return false;
      path.push(node);
    }
    let removed: boolean;
    if (shared) {
      const group = node.shared.get(shared.group);
      removed = group?.members.delete(clientId) ?? false;
      if (group && group.members.size === 0) node.shared.delete(shared.group);
    } else {
      removed = node.subs.delete(clientId);
    }
    if (!removed) return false;
    this.count--;
    this.cache.clear();
    // Prune empty branches so the tree does not grow with churn.
    for (let i = levels.length; i > 0; i--) {
      const n = path[i]!;
      if (n.children.size || n.subs.size || n.shared.size) break;
      path[i - 1]!.children.delete(levels[i - 1]!);
    }
    return true;
  }

  match(topic: string): MatchResult {
    const cached = this.cache.get(topic);
    if (cached) return cached;
    const result: MatchResult = { subs: [], shared: [] };
    const levels = topic.split('/');
    // [MQTT-4.7.2-1] wildcards at the first level do not match topics beginning with '$'.
    this.collect(this.root, levels, 0, topic.charCodeAt(0) === 36, result);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(topic, result);
    return result;
  }

  private collect(node: Node, levels: string[], i: number, dollar: boolean, out: MatchResult): void {
    const wild = !(dollar && i === 0);
    if (wild) {
      // '#' matches this level and everything below, including the parent itself [4.7.1.2].
      const hash = node.children.get('#');
      if (hash) add(hash, out);
    }
    if (i === levels.length) {
      add(node, out);
      return;
    }
    const exact = node.children.get(levels[i]!);
    if (exact) this.collect(exact, levels, i + 1, dollar, out);
    if (wild) {
      const plus = node.children.get('+');
      if (plus) this.collect(plus, levels, i + 1, dollar, out);
    }
  }

  private walk(filter: string, create: boolean): Node | undefined {
    let node = this.root;
    for (const level of filter.split('/')) {
      let next = node.children.get(level);
      if (!next) {
        if (!create) return undefined;
        next = newNode();
        node.children.set(level, next);
      }
      node = next;
    }
    return node;
  }
}

function add(node: Node, out: MatchResult): void {
  for (const entry of node.subs) out.subs.push(entry);
  for (const group of node.shared.values()) out.shared.push(group);
}
