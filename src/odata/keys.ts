import { DynamicsError, ErrorCode } from '../errors';
import { BRACED_GUID_PATTERN as BRACED_GUID, GUID_PATTERN as GUID, isGuid } from '../net/guid';
import { invalidArgument, malformedResponse, quote } from './fail';
import { MAX_SEGMENT_LENGTH } from './url';

export { isGuid };

/** One part of an alternate key: a string, number, boolean or null column value (GUID strings are lookups). */
export type KeyValue = string | number | boolean | null;

/**
 * An alternate key: column names to values, such as `{ accountnumber: 'A1' }` or
 * `{ firstname: 'Joe', emailaddress1: 'abc@example.com' }` (use-alternate-key-reference-record.md).
 */
export type AlternateKey = Readonly<Record<string, KeyValue>>;

/** How a record is identified: its primary key (a GUID) or an {@link AlternateKey}. */
export type RecordKey = string | AlternateKey;


/**
 * Entity set, navigation property and column names: Dataverse logical names are ASCII letters,
 * digits and underscores (a customization prefix such as `new_` included), and the OData
 * identifier rule (CSDL §17.2, SimpleIdentifier) forbids a leading digit.
 */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Characters Dataverse cannot take in an alternate-key value used in a URL, however they are
 * encoded. `/ < > * % & : \ ? +` come from use-alternate-key-reference-record.md; `#` is added
 * by define-alternate-keys-portal.md ("GET or PATCH actions will not work"). ASP.NET rejects the
 * first group as "potentially dangerous" (requestPathInvalidCharacters, applied after decoding)
 * and IIS refuses `+` as double escaping, so percent-encoding them does not help.
 */
export const FORBIDDEN_KEY_CHARACTERS: readonly string[] = ['/', '#', '<', '>', '*', '%', '&', ':', '\\', '?', '+'];

const FORBIDDEN_KEY_CHARACTER = /[/#<>*%&:\\?+]/;

/**
 * Control characters: HTTP.sys refuses them in a URL path even percent-encoded
 * (`AllowRestrictedChars` defaults to 0), so Dataverse answers 400 before the request reaches it.
 */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * Validates a GUID and returns it lower-cased. Braces (`{…}`, as copied from the Dataverse UI)
 * are accepted and removed.
 *
 * @param argument - name used in the error message. Default `'id'`.
 * @throws DynamicsError `invalid_argument` naming `argument` when `value` is not a GUID.
 */
export function normalizeGuid(value: unknown, argument = 'id'): string {
  if (typeof value === 'string') {
    if (GUID.test(value)) return value.toLowerCase();
    const braced = BRACED_GUID.exec(value);
    if (braced) return braced[1].toLowerCase();
  }
  throw invalidArgument(argument, 'a GUID such as "00000000-0000-0000-0000-000000000001"', value);
}

/**
 * Validates an entity set, navigation property or column name (ASCII letters, digits and `_`,
 * not starting with a digit, at most 128 characters) and returns it unchanged.
 *
 * @param argument - name used in the error message. Default `'entitySet'`.
 * @throws DynamicsError `invalid_argument` naming `argument`.
 */
export function validateName(name: unknown, argument = 'entitySet'): string {
  if (typeof name === 'string' && IDENTIFIER.test(name)) return name;
  throw invalidArgument(argument, 'a name of ASCII letters, digits and "_" that does not start with a digit, such as "accounts"', name);
}

/** Percent-encodes a string-literal body for a URL path segment. `'` is already doubled. */
function encodeLiteralForPath(text: string): string {
  // encodeURIComponent leaves only A-Z a-z 0-9 - _ . ! ~ * ' ( ) unescaped: everything that could end
  // the segment (`/ ? #`), split the key list (`,` `=`) or be mangled (space, `"`, non-ASCII as UTF-8)
  // is escaped. The quote stays literal, as in every Microsoft example.
  return encodeURIComponent(text);
}

function formatKeyValue(name: string, value: KeyValue, argument: string): string {
  const where = `${argument}.${name}`;
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    const text = String(value);
    // An exponent (`1e+21`) would put `+` in the path, which IIS rejects (see FORBIDDEN_KEY_CHARACTERS).
    if (!Number.isFinite(value) || /e/i.test(text)) {
      throw invalidArgument(where, 'a finite number written without an exponent (pass large values as a string)', value);
    }
    return text;
  }
  if (typeof value !== 'string') {
    throw invalidArgument(where, 'a string, number, boolean or null', value);
  }
  // A lookup column in a key is written as a bare GUID (`_primarycontactid_value=<guid>`).
  if (GUID.test(value)) return value.toLowerCase();
  if (value.length === 0) throw invalidArgument(where, 'a non-empty string', value);
  const forbidden = FORBIDDEN_KEY_CHARACTER.exec(value);
  if (forbidden) {
    throw new DynamicsError(
      `${where}: ${quote(value)} contains "${forbidden[0]}"; Dataverse cannot address a record by an alternate-key value ` +
        `containing any of ${FORBIDDEN_KEY_CHARACTERS.join(' ')} (use-alternate-key-reference-record.md), however it is encoded. ` +
        'Find the record with a $filter instead.',
      { code: ErrorCode.invalidArgument },
    );
  }
  if (CONTROL_CHARACTER.test(value)) {
    throw invalidArgument(where, 'a value without control characters (the server refuses them in a URL)', value);
  }
  let encoded: string;
  try {
    encoded = encodeLiteralForPath(value.replace(/'/g, "''"));
  } catch {
    // encodeURIComponent throws a URIError for a lone surrogate: it has no UTF-8 form.
    throw invalidArgument(where, 'well-formed Unicode text (found a lone surrogate)', value);
  }
  return `'${encoded}'`;
}

/**
 * The parenthesised key segment for a record URL.
 *
 * - A GUID is validated, lower-cased and left unquoted: `(00000000-0000-0000-0000-000000000001)`.
 * - An alternate key becomes `(accountnumber='A1')` or `(firstname='Joe',emailaddress1='abc%40example.com')`:
 *   strings are quoted with `'` doubled and percent-encoded for a path segment; numbers, booleans,
 *   null and GUID values (lookups such as `_primarycontactid_value`) are unquoted.
 *
 * Caveat: a string column whose value happens to be a GUID is also written unquoted; Dataverse
 * then reports a type mismatch. Use a GUID-shaped value only for lookup key parts.
 *
 * @param argument - name used in error messages. Default `'key'`.
 * @throws DynamicsError `invalid_argument` naming the argument (or `key.<column>`) for a string that is
 *   not a GUID, an empty key, a bad column name, or a value with a character Dataverse forbids
 *   (`/ # < > * % & : \ ? +`, control characters), or a string with a lone surrogate.
 * @example formatKey({ accountnumber: "O'Brien 1" }) // "(accountnumber='O''Brien%201')"
 */
export function formatKey(key: RecordKey, argument = 'key'): string {
  if (typeof key === 'string') {
    if (GUID.test(key) || BRACED_GUID.test(key)) return `(${normalizeGuid(key, argument)})`;
    throw invalidArgument(
      argument,
      'a GUID such as "00000000-0000-0000-0000-000000000001" or an alternate-key object such as { accountnumber: "A1" }',
      key,
    );
  }
  if (key === null || typeof key !== 'object' || Array.isArray(key)) {
    throw invalidArgument(argument, 'a GUID string or an alternate-key object such as { accountnumber: "A1" }', key);
  }
  const names = Object.keys(key);
  if (names.length === 0) throw invalidArgument(argument, 'an alternate-key object with at least one column', key);
  const parts = names.map((name) => {
    if (!IDENTIFIER.test(name)) {
      throw invalidArgument(`${argument} column name`, 'a logical name of ASCII letters, digits and "_"', name);
    }
    return `${name}=${formatKeyValue(name, key[name], argument)}`;
  });
  return `(${parts.join(',')})`;
}

/**
 * A record path relative to the API root: `accounts(00000000-…)`, or just `accounts` without a key.
 *
 * @throws DynamicsError `invalid_argument` naming `entitySet` or `key`, also for an alternate key whose
 *   segment (`accounts(accountnumber='…')`) is longer than the 260 characters Dataverse accepts.
 * @example entityPath('contacts', { firstname: 'Joe', emailaddress1: 'abc@example.com' })
 */
export function entityPath(entitySet: string, key?: RecordKey): string {
  validateName(entitySet, 'entitySet');
  if (key === undefined) return entitySet;
  const segment = `${entitySet}${formatKey(key)}`;
  // A GUID key is always short; an alternate key can pass the segment limit. Measured decoded (each
  // %XX as the one character it stands for), so only a segment Dataverse surely refuses is refused here.
  if (typeof key !== 'string' && segment.length > MAX_SEGMENT_LENGTH) {
    const length = decodeURIComponent(segment).length;
    if (length > MAX_SEGMENT_LENGTH) {
      throw new DynamicsError(
        `key: the URL segment ${quote(decodeURIComponent(segment), 80)} is ${length} characters long, and Dataverse refuses a segment longer than ` +
          `${MAX_SEGMENT_LENGTH} with 400 Invalid URL (compose-http-requests-handle-errors.md, "Maximum OData Segment length"). ` +
          'Find the record with a $filter on the key columns instead.',
        { code: ErrorCode.invalidArgument },
      );
    }
  }
  return segment;
}

/** The parts of a record URL such as `OData-EntityId` or `@odata.id`. */
export interface EntityReference {
  /** The entity set the record belongs to, e.g. `accounts`. */
  entitySet: string;
  /** The primary key (lower-cased GUID), or the alternate key as sent by the server. */
  key: string | AlternateKey;
}

/**
 * Parses the last segment of a record URL, such as the `OData-EntityId` header of a create
 * (`https://org.crm.dynamics.com/api/data/v9.2/accounts(00000000-…)`).
 *
 * @throws DynamicsError `malformed_response` when the URL does not end in `entitySet(key)`.
 */
export function parseEntityReference(url: string): EntityReference {
  const text = typeof url === 'string' ? url.trim() : '';
  // The common answer, `…/accounts(<guid>)`, read without a regex over the segment or a percent-decode
  // (a GUID has nothing to decode): every create and upsert answers with one.
  const close = text.length - 1;
  if (text.charCodeAt(close) === 41 /* ) */ && text.charCodeAt(close - 37) === 40 /* ( */) {
    const id = text.slice(close - 36, close);
    const slash = text.lastIndexOf('/', close - 37);
    const entitySet = text.slice(slash + 1, close - 37);
    if (GUID.test(id) && ENTITY_SET_NAME.test(entitySet)) return { entitySet, key: id.toLowerCase() };
  }
  const bad = () => malformedResponse(`OData-EntityId: expected a record URL ending in entitySet(key), got ${JSON.stringify(text.slice(0, 200))}`);
  // Alternate-key values never contain a literal `/` (forbidden above; encoded as %2F otherwise).
  const segment = text.slice(text.lastIndexOf('/') + 1);
  const match = /^([A-Za-z_][A-Za-z0-9_.]*)\((.+)\)$/.exec(segment);
  if (!match) throw bad();
  let inner: string;
  try {
    inner = decodeURIComponent(match[2]);
  } catch (cause) {
    throw malformedResponse(`OData-EntityId: bad percent-encoding in ${JSON.stringify(segment.slice(0, 200))}`, { cause });
  }
  if (GUID.test(inner)) return { entitySet: match[1], key: inner.toLowerCase() };
  const key = parseKeyList(inner);
  if (!key) throw bad();
  return { entitySet: match[1], key };
}

/**
 * The id of a created or upserted record from its `OData-EntityId` header: the GUID (lower-cased),
 * or the alternate key when the server answered with one.
 *
 * @throws DynamicsError `malformed_response` when the header is not a record URL.
 * @example parseEntityId('https://x/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)')
 */
export function parseEntityId(odataEntityIdHeader: string): string | AlternateKey {
  return parseEntityReference(odataEntityIdHeader).key;
}

/** The entity set of an `OData-EntityId` (the name before the parentheses of its last segment). */
const ENTITY_SET_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** Parses `name=value(,name=value)*` (already percent-decoded); undefined when malformed. */
function parseKeyList(text: string): AlternateKey | undefined {
  const result: Record<string, KeyValue> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) return undefined;
    const name = text.slice(i, eq);
    if (!IDENTIFIER.test(name)) return undefined;
    i = eq + 1;
    let value: KeyValue;
    if (text[i] === "'") {
      let out = '';
      i++;
      for (;;) {
        if (i >= text.length) return undefined;
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            out += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        out += text[i++];
      }
      value = out;
    } else {
      const end = text.indexOf(',', i);
      const token = text.slice(i, end < 0 ? text.length : end);
      i += token.length;
      if (token === 'null') value = null;
      else if (token === 'true' || token === 'false') value = token === 'true';
      else if (GUID.test(token)) value = token.toLowerCase();
      else if (/^-?\d+(\.\d+)?$/.test(token)) value = Number(token);
      else return undefined;
    }
    result[name] = value;
    if (i === text.length) break;
    if (text[i] !== ',') return undefined;
    i++;
    if (i === text.length) return undefined;
  }
  return Object.keys(result).length > 0 ? result : undefined;
}
