/**
 * The runtime model of an environment's tables: what the client must know at run time to write the
 * right literal for a column (a GUID unquoted, a date as a date), to name a table's logical name
 * (`@odata.type` of bulk messages), its primary key, or whether it is an elastic table. The code
 * generator emits one per environment next to the `Schema` type; wiring it in is one option:
 *
 * ```ts
 * import { model, type Schema } from './generated';
 * const client = new DynamicsClient<Schema>({ url, auth, model });
 * ```
 *
 * Everything here is optional for the client: without a model it behaves as before, and features
 * that need one say so in their error.
 */

/** One table as the client sees it at run time. */
export interface EntityModel {
  /** The entity set name, `accounts`. */
  readonly entitySet: string;
  /** The table's logical name, `account` (`@odata.type` is `Microsoft.Dynamics.CRM.<logicalName>`). */
  readonly logicalName: string;
  /** The primary key column, `accountid`. */
  readonly primaryKey: string;
  /**
   * Column name → its Edm type as `$metadata` declares it (`Edm.String`, `Edm.Guid`, `Edm.Int32`,
   * `Edm.DateTimeOffset`, …). Lookup columns appear as their `_x_value` properties.
   */
  readonly columns: Readonly<Record<string, string>>;
  /** `'elastic'` for an elastic table (partition keys, session tokens, bulk limits of 100); default `'standard'`. */
  readonly tableType?: 'standard' | 'elastic';
}

/** Entity set name → {@link EntityModel}: what the generator emits as `model`. */
export type RuntimeModel = Readonly<Record<string, EntityModel>>;

/** Whether `value` has the shape of an {@link EntityModel} (checked once, when the client is built). */
export function isEntityModel(value: unknown): value is EntityModel {
  if (value === null || typeof value !== 'object') return false;
  const m = value as Record<string, unknown>;
  const columns = m.columns;
  return (
    typeof m.entitySet === 'string' &&
    typeof m.logicalName === 'string' &&
    typeof m.primaryKey === 'string' &&
    columns !== null &&
    typeof columns === 'object' &&
    Object.values(columns as object).every((t) => typeof t === 'string') &&
    (m.tableType === undefined || m.tableType === 'standard' || m.tableType === 'elastic')
  );
}
