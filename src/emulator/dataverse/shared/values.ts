/**
 * Coercion of JSON values in request bodies to a column's Edm type, with Dataverse's 400 for a value
 * of the wrong type ("Cannot convert the literal … to the expected type …").
 */
import { clip, quote } from '../../../net/excerpt';
import { GUID_PATTERN } from '../../../net/guid';
import { dvErrors } from '../errors';
import type { ColumnInfo } from '../schema';

/** Longest part of a refused value quoted in the error. */
const MAX_LITERAL_CHARS = 200;

/** The value to store for `value` written to `column`; throws the 400 Dataverse answers when it does not fit. */
export function coerce(column: ColumnInfo, value: unknown): unknown {
  if (value === null) return null;
  // The literal is quoted in the message, shortened: a 50 MB value must not make a 50 MB error.
  const bad = (): never => {
    throw dvErrors.invalidValue(typeof value === 'object' ? quote(value, MAX_LITERAL_CHARS) : clip(String(value), MAX_LITERAL_CHARS), column.edmType);
  };
  if (column.isCollection) return Array.isArray(value) ? value : bad();
  switch (column.edmType) {
    case 'Edm.String':
      return typeof value === 'string' ? value : bad();
    case 'Edm.Boolean':
      return typeof value === 'boolean' ? value : bad();
    case 'Edm.Int16':
    case 'Edm.Int32':
    case 'Edm.Byte':
    case 'Edm.SByte': {
      const n = typeof value === 'number' ? value : bad();
      if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) bad();
      return n;
    }
    case 'Edm.Int64': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : bad();
      return Number.isInteger(n) ? n : bad();
    }
    case 'Edm.Decimal':
    case 'Edm.Double':
    case 'Edm.Single': {
      // IEEE754Compatible clients send decimals as strings.
      return typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : bad();
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
