/**
 * What the emulator infers about a table from its CSDL alone, since `$metadata` carries no table type
 * and no column kind beyond the Edm type: which tables are elastic and which columns hold files or
 * images. Each rule follows the form Dataverse gives those tables and columns in `$metadata`.
 */
import type { ColumnInfo, EntitySetInfo } from '../schema';

/**
 * An elastic table: it has `partitionid` and an alternate key made of its primary key and
 * `partitionid` (Dataverse's `KeyForNoSqlEntityWithPKPartitionId`,
 * https://learn.microsoft.com/power-apps/developer/data-platform/use-elastic-tables).
 */
export function isElastic(set: EntitySetInfo): boolean {
  if (!set.columns.has('partitionid')) return false;
  return set.alternateKeys.some((k) => k.length === 2 && k.includes(set.key) && k.includes('partitionid'));
}

/**
 * A file column: an `Edm.Guid` that is neither the key nor a lookup, with a `<name>_name` string beside
 * it (https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data: "the file column
 * returns a file ID", `<name>_name` the file name).
 */
export function isFileColumn(set: EntitySetInfo, column: ColumnInfo): boolean {
  return column.edmType === 'Edm.Guid' && column.name !== set.key && !column.name.startsWith('_') && !column.lookupNavigations && set.columns.get(`${column.name}_name`)?.edmType === 'Edm.String';
}

/**
 * An image column: an `Edm.Binary` with `<name>id` beside it (`entityimage`/`entityimageid`,
 * https://learn.microsoft.com/power-apps/developer/data-platform/image-column-data).
 */
export function isImageColumn(set: EntitySetInfo, column: ColumnInfo): boolean {
  return column.edmType === 'Edm.Binary' && set.columns.get(`${column.name}id`)?.edmType === 'Edm.Guid';
}
