/**
 * Topic names and filters (spec 4.7): validation, `$`-topics, shared subscriptions and matching.
 */

export interface SharedFilter {
  group: string;
  filter: string;
}

/** Why a name or filter is invalid, or undefined when it is valid. */
export function topicNameError(topic: string): string | undefined {
  if (topic.length === 0) return 'topic name is empty [MQTT-4.7.3-1]';
  if (topic.includes('+') || topic.includes('#')) return 'topic name contains a wildcard [MQTT-3.3.2-2]';
  return undefined;
}

export function isValidTopicName(topic: string): boolean {
  return topicNameError(topic) === undefined;
}

/** Validates a filter's levels: `#` only alone and last [MQTT-4.7.1-1], `+` only alone [MQTT-4.7.1-2]. */
export function topicFilterError(filter: string): string | undefined {
  if (filter.length === 0) return 'topic filter is empty [MQTT-4.7.3-1]';
  const shared = parseSharedFilter(filter);
  if (shared === null) return 'shared subscription needs $share/{ShareName}/{filter} [MQTT-4.8.2-1]';
  const f = shared === undefined ? filter : shared.filter;
  // One pass over the characters (this runs for every filter of every SUBSCRIBE, both directions).
  const n = f.length;
  let levelStart = 0;
  for (let i = 0; i < n; i++) {
    const c = f.charCodeAt(i);
    if (c === 47 /* / */) levelStart = i + 1;
    else if (c === 35 /* # */) {
      if (i !== levelStart || i !== n - 1) return 'multi-level wildcard must be the whole last level [MQTT-4.7.1-1]';
    } else if (c === 43 /* + */) {
      if (i !== levelStart || (i + 1 < n && f.charCodeAt(i + 1) !== 47)) {
        // A level holding both wildcards breaks the '#' rule first, as the level-by-level reading has it.
        const end = f.indexOf('/', i);
        if (f.slice(levelStart, end < 0 ? n : end).includes('#')) return 'multi-level wildcard must be the whole last level [MQTT-4.7.1-1]';
        return 'single-level wildcard must occupy a whole level [MQTT-4.7.1-2]';
      }
    }
  }
  return undefined;
}

export function isValidTopicFilter(filter: string): boolean {
  return topicFilterError(filter) === undefined;
}

export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/**
 * `$share/{ShareName}/{filter}`: returns the parts, undefined for a filter that is not shared, and
 * null for a malformed shared filter (empty or wildcard share name, or no filter) [MQTT-4.8.2-1/2].
 */
export function parseSharedFilter(filter: string): SharedFilter | undefined | null {
  if (!filter.startsWith('$share/')) return undefined;
  const slash = filter.indexOf('/', 7);
  if (slash < 0) return null;
  const group = filter.slice(7, slash);
  const rest = filter.slice(slash + 1);
  if (group.length === 0 || group.includes('+') || group.includes('#') || rest.length === 0) return null;
  return { group, filter: rest };
}

/**
 * Does `topic` match `filter`? Wildcards at the first level do not match topics starting with `$`
 * [MQTT-4.7.2-1]. `filter` must be valid and not shared (strip `$share/group/` first).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 36 /* $ */ && (filter.charCodeAt(0) === 43 /* + */ || filter.charCodeAt(0) === 35 /* # */)) {
    return false;
  }
  let f = 0;
  let t = 0;
  const fl = filter.length;
  const tl = topic.length;
  while (f < fl) {
    const c = filter.charCodeAt(f);
    if (c === 35 /* # */) return true; // also matches the parent level: "a/#" matches "a"
    if (c === 43 /* + */) {
      while (t < tl && topic.charCodeAt(t) !== 47) t++;
      f++;
    } else {
      // Compare literal characters up to the end of this filter level.
      while (f < fl && filter.charCodeAt(f) !== 47) {
        if (t >= tl || topic.charCodeAt(t) !== filter.charCodeAt(f)) return false;
        f++;
        t++;
      }
      if (t < tl && topic.charCodeAt(t) !== 47) return false;
    }
    // Both at a level separator or at the end.
    if (f === fl) return t === tl;
    // filter has '/', topic must too — unless the rest of the filter is "/#" and topic ended.
    if (t === tl) return filter.length - f === 2 && filter.charCodeAt(f + 1) === 35;
    f++;
    t++;
  }
  return t === tl;
}
