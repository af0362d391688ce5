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
