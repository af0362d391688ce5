/**
 * How generated models plug into {@link DynamicsClient}: a type map from entity-set name to the
 * entity's read, create and update types. The code generator emits one (`Schema`) per environment.
 *
 * ```ts
 * import type { Schema } from './generated';
 * const client = new DynamicsClient<Schema>({ url, auth });
 * const account = await client.retrieve('accounts', id, { select: ['name'] }); // { name?: string | null; ... }
 * ```
 */
export interface EntityTypes<Read extends object = Record<string, unknown>, Create extends object = Record<string, unknown>, Update extends object = Record<string, unknown>> {
  read: Read;
  create: Create;
  update: Update;
}

/** Entity set name → {@link EntityTypes}. */
export type SchemaMap = Record<string, EntityTypes<object, object, object>>;

/** The schema used when none is given: any entity set, untyped records. */
export type UntypedSchema = Record<string, EntityTypes>;
