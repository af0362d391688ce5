/**
 * Thrown by the code generator for input it cannot use: a document that is not CSDL, a reference
 * to a type the document does not define, invalid options. The generator does not load the runtime
 * client, so it has its own small error class rather than `DynamicsError`.
 */
export class CodegenError extends Error {
  override readonly name = 'CodegenError';
  /** Stable code: `invalid_csdl`, `invalid_option`, `download_failed`, `invalid_option_sets`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
