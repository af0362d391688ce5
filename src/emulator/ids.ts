/**
 * Deterministic ids for the emulator's own records (business unit, organization, systemusers of token
 * users, option-set metadata): the same text always gives the same GUID, so a restart, another port or
 * another machine answers with the same ids.
 */
import { createHash } from 'node:crypto';

/**
 * A GUID derived from `text`: SHA-1 in the name-based (version 5) layout of RFC 4122 §4.3, with the
 * version nibble 5 and the RFC 4122 variant bits.
 *
 * @example
 * stableGuid('dynamics-odata-emulator#businessunit'); // the same on every run
 */
export function stableGuid(text: string): string {
  const h = createHash('sha1').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}
