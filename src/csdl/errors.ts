/**
 * Thrown by the CSDL reader for text it cannot read as a `$metadata` document. `src/csdl` is a leaf
 * shared by the code generator and the emulator, so it has its own error class: the generator's
 * public functions rethrow it as `CodegenError` (same code and message), the emulator lets it
 * surface from `startEmulator` as it is.
 */
export class CsdlError extends Error {
  override readonly name = 'CsdlError';
  /** Stable code; always `invalid_csdl` today. */
  readonly code: 'invalid_csdl';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = 'invalid_csdl';
  }
}

/**
 * Text from the document as it may appear in an error message: quoted, cut to 80 characters, and
 * with every control, line-terminator and format character escaped, so that a hostile name can
 * neither forge log lines nor reorder the text around it (bidirectional overrides).
 */
export function quoteName(name: string): string {
  const cut = name.length > 80 ? `${name.slice(0, 80)}…` : name;
  return `"${escapeInvisible(cut.replace(/[\\"]/g, (c) => `\\${c}`))}"`;
}

/** `text` with control, line-terminator and format characters (and lone surrogates) written as `\uXXXX`. */
export function escapeInvisible(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cf}]|[\uD800-\uDFFF]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
