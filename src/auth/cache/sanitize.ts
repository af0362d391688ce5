/**
 * What a persisted MSAL token cache must look like before MSAL is handed it. MSAL's deserializer
 * trusts its input: `{"AccessToken":{"k":null}}` makes it throw `Cannot read properties of null`
 * on every access, and wrong types in an entry fail later, deep in a token lookup. A cache file or
 * a Redis value is shared state that another program, a crash or a person can break, so each entry
 * is checked against the shape msal-node writes (`cache/serializer/SerializerTypes.ts`) and the ones
 * that do not fit are dropped: the rest of the cache stays usable, and MSAL rewrites it whole the
 * next time it changes.
 */

type FieldRule = 'string' | 'digits' | 'strings' | 'tenantProfiles' | 'stringRecord';

/** Required and optional fields of each section's entries (msal-node `SerializedAccountEntity`, …). */
const SECTIONS: Record<string, { required: Record<string, FieldRule>; optional: Record<string, FieldRule> }> = {
  Account: {
    required: { home_account_id: 'string', environment: 'string', realm: 'string', local_account_id: 'string', username: 'string', authority_type: 'string' },
    optional: { name: 'string', client_info: 'string', last_modification_time: 'string', last_modification_app: 'string', tenantProfiles: 'tenantProfiles' },
  },
  IdToken: {
    required: { home_account_id: 'string', environment: 'string', credential_type: 'string', client_id: 'string', secret: 'string', realm: 'string' },
    optional: {},
  },
  AccessToken: {
    required: {
      home_account_id: 'string',
      environment: 'string',
      credential_type: 'string',
      client_id: 'string',
      secret: 'string',
      realm: 'string',
      target: 'string',
      cached_at: 'digits',
      expires_on: 'digits',
    },
    optional: {
      extended_expires_on: 'digits',
      refresh_on: 'digits',
      key_id: 'string',
      token_type: 'string',
      userAssertionHash: 'string',
      resource: 'string',
      additionalCacheKeyComponents: 'stringRecord',
    },
  },
  RefreshToken: {
    required: { home_account_id: 'string', environment: 'string', credential_type: 'string', client_id: 'string', secret: 'string' },
    optional: { family_id: 'string', target: 'string', realm: 'string' },
  },
  AppMetadata: {
    required: { client_id: 'string', environment: 'string' },
    optional: { family_id: 'string' },
  },
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function fits(value: unknown, rule: FieldRule): boolean {
  switch (rule) {
    case 'string':
      return typeof value === 'string';
    case 'digits':
      // Timestamps in seconds, as strings: MSAL compares them as numbers.
      return typeof value === 'string' && /^\d{1,15}$/.test(value);
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'tenantProfiles':
      // MSAL JSON.parses each one while deserializing.
      return (
        Array.isArray(value) &&
        value.every((v) => {
          if (typeof v !== 'string') return false;
          try {
            return isRecord(JSON.parse(v));
          } catch {
            return false;
          }
        })
      );
    case 'stringRecord':
      return isRecord(value) && Object.values(value).every((v) => typeof v === 'string');
  }
}

function entryFits(entry: unknown, rules: (typeof SECTIONS)[string]): boolean {
  if (!isRecord(entry)) return false;
  for (const [field, rule] of Object.entries(rules.required)) if (!fits(entry[field], rule)) return false;
  for (const [field, rule] of Object.entries(rules.optional)) if (entry[field] !== undefined && !fits(entry[field], rule)) return false;
  return true;
}

/** What {@link sanitizeCache} made of a persisted cache. */
export interface SanitizedCache {
  /** JSON that MSAL's `deserialize` accepts: the entries that fit, in the sections MSAL knows. */
  json: string;
  /** Entries (or whole sections, or the whole text) that could not be read and were left out. */
  dropped: number;
  /** Why the text as a whole could not be used, when it could not (not JSON, not an object). */
  unreadable?: string;
}

/**
 * The entries of a serialized MSAL cache that MSAL can deserialize and use; the others are left
 * out and counted. Text that is empty gives an empty cache; text that is not a JSON object gives an
 * empty cache with `unreadable` set.
 */
export function sanitizeCache(text: string): SanitizedCache {
  if (!text.trim()) return { json: '{}', dropped: 0 };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { json: '{}', dropped: 1, unreadable: 'not JSON' };
  }
  if (!isRecord(parsed)) return { json: '{}', dropped: 1, unreadable: 'not a JSON object' };
  const out: Record<string, Record<string, unknown>> = {};
  let dropped = 0;
  for (const [section, value] of Object.entries(parsed)) {
    const rules = SECTIONS[section];
    if (rules === undefined) continue;
    if (!isRecord(value)) {
      dropped++;
      continue;
    }
    // A null-prototype map: a key such as `__proto__` stays an ordinary entry name.
    const kept: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [key, entry] of Object.entries(value)) {
      if (entryFits(entry, rules)) kept[key] = entry;
      else dropped++;
    }
    out[section] = kept;
  }
  return { json: dropped === 0 ? text : JSON.stringify(out), dropped };
}
