/**
 * How Edm primitive types become TypeScript types and zod schemas.
 *
 * The rule: the generated type is what `JSON.parse` gives for what Dataverse actually sends
 * (OData JSON Format 4.01 with the default `IEEE754Compatible=false`, which is what Dataverse
 * answers and what dynamics-odata asks for), so a record read from the service needs no
 * conversion and a value written is sent as is.
 *
 * | Edm type | TypeScript | zod | why |
 * |---|---|---|---|
 * | `Edm.String` | `string` | `z.string()` (+ `.max(MaxLength)`) | |
 * | `Edm.Guid` | `string` | `z.guid()` | Dataverse GUIDs are not all RFC 4122 (sequential ids, `0000…` system ids), so `z.uuid()` would reject real keys. Not branded: ids come from JSON and go into URLs as is. |
 * | `Edm.Boolean` | `boolean` | `z.boolean()` | |
 * | `Edm.Int16`, `Edm.Int32`, `Edm.Byte`, `Edm.SByte` | `number` | `z.number().int()` | Whole Number and Choice (option-set) columns are `Edm.Int32`; with option-set metadata a Choice column is typed as the union of its values instead. |
 * | `Edm.Int64` | `number` | `z.number().int()` | Dataverse's Big Integer columns (`versionnumber`) arrive as JSON numbers; values above 2^53 would lose precision, which Dataverse's own row versions do not reach in practice. |
 * | `Edm.Decimal` (Decimal and **Money** columns) | `number` | `z.number()` | Dataverse sends Money and Decimal as JSON numbers (`"revenue": 10000.5`) and accepts numbers; a `string` type would not match the payload unless every request sent `IEEE754Compatible=true`. Money has 4 decimal places and Decimal up to 10, within a double's 15–17 significant digits for all but the extreme ends of their ranges (Money max 922,337,203,685,477): use `IEEE754Compatible=true` and a decimal library if you need exact arithmetic near those limits. |
 * | `Edm.Double`, `Edm.Single` | `number` | `z.number()` | Float columns. |
 * | `Edm.DateTimeOffset` | `string` | `z.iso.datetime({ offset: true })` | ISO 8601 with offset, as sent (`2024-05-01T08:30:00Z`). A string, not a `Date`: JSON has no dates, and converting would lose the distinction between Date Only, Time-Zone Independent and User Local columns. Not branded, so values from `new Date().toISOString()` need no cast. |
 * | `Edm.Date` | `string` | `z.iso.date()` | `YYYY-MM-DD` (Date Only columns with the DateOnly format). |
 * | `Edm.TimeOfDay` | `string` | `z.iso.time()` | |
 * | `Edm.Duration` | `string` | `z.iso.duration()` | ISO 8601 duration (`P1DT2H`). |
 * | `Edm.Binary` | `string` | `z.base64()` | Base64 text, as File and Image columns (`entityimage`) and `documentbody` are sent. |
 * | `Edm.Stream`, `Edm.Untyped`, anything else | `unknown` | `z.unknown()` | Not representable; a type from an unknown namespace also lands here instead of failing the run. |
 *
 * Enum types (`EnumType`) are sent as their member names (`"ReadAccess"`, flags as
 * `"ReadAccess,WriteAccess"`), so their TypeScript type is the union of member names.
 */
import type { EdmPrimitive } from '../../csdl';

export interface EdmMapping {
  /** TypeScript type text. */
  ts: string;
  /** zod 4 schema expression. */
  zod: string;
}

const INT: EdmMapping = { ts: 'number', zod: 'z.number().int()' };
const NUM: EdmMapping = { ts: 'number', zod: 'z.number()' };
const UNKNOWN: EdmMapping = { ts: 'unknown', zod: 'z.unknown()' };

const MAPPING: Readonly<Record<string, EdmMapping>> = {
  'Edm.String': { ts: 'string', zod: 'z.string()' },
  'Edm.Guid': { ts: 'string', zod: 'z.guid()' },
  'Edm.Boolean': { ts: 'boolean', zod: 'z.boolean()' },
  'Edm.Byte': INT,
  'Edm.SByte': INT,
  'Edm.Int16': INT,
  'Edm.Int32': INT,
  'Edm.Int64': INT,
  'Edm.Decimal': NUM,
  'Edm.Double': NUM,
  'Edm.Single': NUM,
  'Edm.DateTimeOffset': { ts: 'string', zod: 'z.iso.datetime({ offset: true })' },
  'Edm.Date': { ts: 'string', zod: 'z.iso.date()' },
  'Edm.TimeOfDay': { ts: 'string', zod: 'z.iso.time()' },
  'Edm.Duration': { ts: 'string', zod: 'z.iso.duration()' },
  'Edm.Binary': { ts: 'string', zod: 'z.base64()' },
};

/** The TypeScript type and zod schema of an Edm primitive type (see the table above). */
export function edmMapping(edmType: EdmPrimitive | string, maxLength?: number): EdmMapping {
  const m = MAPPING[edmType] ?? UNKNOWN;
  if (edmType === 'Edm.String' && maxLength !== undefined && maxLength > 0) return { ts: m.ts, zod: `z.string().max(${maxLength})` };
  return m;
}
