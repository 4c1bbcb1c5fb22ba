/**
 * Filter-against-filter relations the ACL needs and the codec does not have: the codec's
 * `topicMatches` answers "does this topic match this filter"; a SUBSCRIBE carries a filter, so the ACL
 * must answer "is every topic of this filter allowed" (within) and "can this filter reach a denied
 * topic" (overlap). Both work level by level on valid, unshared filters and honour [MQTT-4.7.2-1]: a
 * wildcard in the first level never matches a topic starting with `$`.
 */

const isDollar = (level: string): boolean => level.charCodeAt(0) === 36; /* $ */
const isWild = (level: string): boolean => level === '+' || level === '#';

/** True when every topic `inner` can match is also matched by `outer` (`a/+/c` ⊆ `a/#`, `a/#` ⊄ `a/+/c`). */
export function filterWithin(inner: readonly string[], outer: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const o = outer[i];
    const n = inner[i];
    if (o === undefined) return n === undefined; // outer ended: inner must end too
    if (n === undefined) return o === '#'; // inner ended: only "x/#" also matches the parent "x"
    if (i === 0 && isWild(o) && !isWild(n) && isDollar(n)) return false; // '+'/'#' never reach '$…' topics
    if (o === '#') return true;
    if (n === '#') {
      // "x/#" also matches "x", which "x/+/#" does not — unless "x" is the empty topic, which is not a
      // topic: '#' ⊆ '+/#' and '/#' ⊆ '/+/#'.
      const parentIsEmpty = i === 0 || (i === 1 && inner[0] === '');
      return parentIsEmpty && o === '+' && outer.length === i + 2 && outer[i + 1] === '#';
    }
    if (o === '+') continue; // any single level of inner (literal or '+') fits
    if (n !== o) return false; // outer literal: inner must be that literal (a '+' would widen)
  }
}

/** True when at least one topic is matched by both filters (a deny rule touching a subscription). */
export function filtersOverlap(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined && y === undefined) return true;
    if (x === undefined || y === undefined) {
      // "p" and "p/#" share the topic "p" — unless "p" is the empty topic, which is not a topic.
      return (x ?? y) === '#' && !(i === 1 && (a[0] === '' || b[0] === ''));
    }
    if (i === 0 && isWild(x) !== isWild(y) && isDollar(isWild(x) ? y : x)) return false;
    if (x === '#' || y === '#') return true;
    if (x === '+' || y === '+' || x === y) continue;
    return false;
  }
}
