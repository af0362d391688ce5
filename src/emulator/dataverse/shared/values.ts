/**
 * Coercion of JSON values in request bodies to a column's Edm type, with Dataverse's 400 for a value
 * of the wrong type ("Cannot convert the literal … to the expected type …").
 */
import { clip, quote } from '../../../net/excerpt';
import { GUID_PATTERN } from '../../../net/guid';
import { dvErrors } from '../errors';
import { fitsEdmNumber } from '../filter';
import type { ColumnInfo } from '../schema';

/** Longest part of a refused value quoted in the error. */
const MAX_LITERAL_CHARS = 200;

/**
 * Longest text any Dataverse column holds when the `$metadata` document does not say (Dataverse's own
 * does not: column lengths are in its attribute metadata): MemoAttributeMetadata.MaxSupportedLength,
 * 1,048,576 characters.
 */
export const MAX_TEXT_LENGTH = 1_048_576;

/** String columns that carry file content (base64) and are bounded by the attachment size, up to 128 MB, instead. */
const FILE_CONTENT_COLUMNS = new Set(['annotation.documentbody', 'activitymimeattachment.body']);

/** The longest value `column` of table `entity` accepts. */
export function maxLengthOf(column: ColumnInfo, entity: string): number {
  if (column.maxLength !== undefined) return column.maxLength;
  return FILE_CONTENT_COLUMNS.has(`${entity}.${column.name}`) ? Number.POSITIVE_INFINITY : MAX_TEXT_LENGTH;
}

/**
 * The value to store for `value` written to `column` of table `entity` (its logical name); throws the
 * 400 Dataverse answers when it does not fit its type or length.
 */
export function coerce(column: ColumnInfo, value: unknown, entity: string): unknown {
  if (value === null) return null;
  // The literal is quoted in the message, shortened: a 50 MB value must not make a 50 MB error.
  const bad = (): never => {
    throw dvErrors.invalidValue(typeof value === 'object' ? quote(value, MAX_LITERAL_CHARS) : clip(String(value), MAX_LITERAL_CHARS), column.edmType);
  };
  if (column.isCollection) return Array.isArray(value) ? value : bad();
  switch (column.edmType) {
    case 'Edm.String': {
      if (typeof value !== 'string') return bad();
      const max = maxLengthOf(column, entity);
      if (value.length > max) throw dvErrors.tooLong(column.name, entity, max);
      return value;
    }
    case 'Edm.Boolean':
      return typeof value === 'boolean' ? value : bad();
    // Each numeric type holds only its own range (JSON's 1e999 parses to Infinity, which none holds).
    case 'Edm.Int16':
    case 'Edm.Int32':
    case 'Edm.Byte':
    case 'Edm.SByte': {
      const n = typeof value === 'number' ? value : bad();
      return Number.isInteger(n) && fitsEdmNumber(n, column.edmType) ? n : bad();
    }
    case 'Edm.Int64': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : bad();
      return Number.isInteger(n) && fitsEdmNumber(n, column.edmType) ? n : bad();
    }
    case 'Edm.Decimal':
    case 'Edm.Double':
    case 'Edm.Single': {
      // IEEE754Compatible clients send decimals as strings.
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : bad();
      return fitsEdmNumber(n, column.edmType) ? n : bad();
    }
    case 'Edm.Guid':
      return typeof value === 'string' && GUID_PATTERN.test(value) ? value.toLowerCase() : bad();
    case 'Edm.DateTimeOffset': {
      if (typeof value !== 'string') bad();
      const t = Date.parse(value as string);
      if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(value as string)) bad();
      return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    case 'Edm.Date':
      return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : bad();
    case 'Edm.Binary':
      return typeof value === 'string' && /^[A-Za-z0-9+/=_-]*$/.test(value) ? value : bad();
    default:
      // Enums, complex and other types are stored as sent.
      return value;
  }
}
