/**
 * Thrown by the code generator for input it cannot use: a document that is not CSDL, a reference
 * to a type the document does not define, invalid options. The generator does not load the runtime
 * client, so it has its own small error class rather than `DynamicsError`.
 */
export class CodegenError extends Error {
  override readonly name = 'CodegenError';
  /**
   * Stable code: `invalid_csdl` (not CSDL, or CSDL that breaks its rules: a name that is not a
   * SimpleIdentifier, an undefined type, a BaseType cycle, a key naming no property, a name declared
   * twice), `unsupported_csdl` (valid CSDL the generated code cannot represent: `__proto__`),
   * `invalid_option`, `download_failed`, `response_too_large`, `invalid_option_sets`.
   */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
