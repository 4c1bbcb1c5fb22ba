/** Min/median/max of repeated measurements (the report keeps the spread, not only a middle value). */
import { MoatError } from '../codec/index.js';
import type { Stat } from './report.js';

export function stat(values: readonly number[]): Stat {
  if (values.length === 0 || values.some((v) => !Number.isFinite(v))) {
    throw new MoatError('MOAT_ERR_LAB_CHECK', `a measurement gave no finite values (${values.join(', ')})`);
  }
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]!, n: s.length };
}
