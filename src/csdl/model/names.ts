/**
 * Turning CSDL names into TypeScript identifiers and file names that are valid and never collide.
 * Dataverse documents contain names that differ only by case (`solution` the table and `Solution`
 * the complex type; `serviceplan`/`ServicePlan`), which broke odata2ts (its #310): every name here
 * goes through a {@link NameRegistry} that hands out `_1`, `_2` suffixes deterministically.
 */

/** Words that cannot be used as identifiers, plus globals the generated code itself refers to. */
const RESERVED = new Set([
  // ECMAScript reserved words and strict-mode/TypeScript contextual keywords that break declarations.
  'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else', 'enum', 'export',
  'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof', 'new', 'null', 'return', 'super',
  'switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void', 'while', 'with', 'implements', 'interface', 'let',
  'package', 'private', 'protected', 'public', 'static', 'yield', 'await', 'any', 'boolean', 'number', 'string', 'symbol',
  'never', 'unknown', 'object', 'undefined', 'type', 'as', 'is', 'keyof', 'readonly', 'declare', 'namespace', 'module',
  // Globals and helpers the emitted files use by name; a generated `Record` interface would shadow them.
  'Array', 'ReadonlyArray', 'Boolean', 'Date', 'Error', 'Function', 'Map', 'Number', 'Object', 'Omit', 'Partial', 'Pick',
  'Promise', 'Readonly', 'Record', 'Required', 'Set', 'String', 'Symbol', 'Exclude', 'Extract', 'NonNullable', 'JSON',
  'Math', 'z',
  // Shared names the generated folder exports besides the per-type ones.
  'Schema', 'EntityRecord', 'OperationCaller', 'OperationKey', 'BoundOperationTarget', 'model',
]);

/** `adoxio_application` → `AdoxioApplication`, `WhoAmI` → `WhoAmI`, `123abc` → `_123abc`. */
export function pascalCase(name: string): string {
  const parts = name.split(/[^A-Za-z0-9]+/).filter((p) => p.length > 0);
  let out = parts.map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
  if (out.length === 0) out = 'X';
  if (/^[0-9]/.test(out)) out = `_${out}`;
  return out;
}

/** `AdoxioApplication` → `adoxioApplication`; keeps a leading `_`. */
export function camelCase(identifier: string): string {
  if (identifier.startsWith('_')) return identifier;
  return identifier[0]!.toLowerCase() + identifier.slice(1);
}

/** File stem from a CSDL name: lower case (file systems on macOS and Windows ignore case), safe characters only. */
export function fileStem(name: string): string {
  const stem = name.toLowerCase().replace(/[^a-z0-9_.-]+/g, '_');
  return stem.length === 0 ? 'x' : stem;
}

/** Is `name` usable as a bare identifier in emitted code? */
export function isValidIdentifier(name: string): boolean {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) && !RESERVED.has(name);
}

/**
 * Hands out collision-free names. `claim(base, derive)` picks the first of `base`, `base_1`,
 * `base_2`, … for which every derived name (e.g. `AccountCreate`, `accountMeta`) is still free,
 * and reserves all of them. Instances are per model: no module-level state.
 */
export class NameRegistry {
  private readonly taken = new Set<string>();

  constructor(private readonly caseInsensitive = false, reserved: Iterable<string> = RESERVED) {
    for (const name of reserved) this.taken.add(this.norm(name));
  }

  private norm(name: string): string {
    return this.caseInsensitive ? name.toLowerCase() : name;
  }

  has(name: string): boolean {
    return this.taken.has(this.norm(name));
  }

  /** Reserve exactly `name` (no suffixing); returns false if it was already taken. */
  reserve(name: string): boolean {
    const key = this.norm(name);
    if (this.taken.has(key)) return false;
    this.taken.add(key);
    return true;
  }

  claim(base: string, derive: (candidate: string) => string[] = (c) => [c]): string {
    for (let i = 0; ; i++) {
      const candidate = i === 0 ? base : `${base}_${i}`;
      const names = derive(candidate);
      if (names.every((n) => !this.taken.has(this.norm(n)))) {
        for (const n of names) this.taken.add(this.norm(n));
        return candidate;
      }
    }
  }
}

/** Names every entity type's file exports, derived from its identifier; claimed together so none collides. */
export function entityDerivedNames(identifier: string): {
  read: string;
  create: string;
  update: string;
  schema: string;
  meta: string;
  entitySetEntry: string;
  model: string;
} {
  return {
    read: identifier,
    create: `${identifier}Create`,
    update: `${identifier}Update`,
    schema: `${identifier}Schema`,
    meta: `${camelCase(identifier)}Meta`,
    entitySetEntry: `${identifier}EntitySet`,
    model: `${identifier}Model`,
  };
}

/** Names an enum type's emitted code uses. */
export function enumDerivedNames(identifier: string): { type: string; values: string } {
  return { type: identifier, values: `${identifier}Values` };
}

/** Names an operation's emitted code uses. */
export function operationDerivedNames(identifier: string): { wrapper: string; parameters: string; result: string } {
  return { wrapper: identifier, parameters: `${identifier}Parameters`, result: `${identifier}Result` };
}
