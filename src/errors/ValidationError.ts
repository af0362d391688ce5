import { DynamicsError } from './DynamicsError';
import { ErrorCode } from './codes';

/** One field that failed validation. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** A record failed validation against its generated zod schema (client option `validate: true`). */
export class ValidationError extends DynamicsError {
  override name = 'ValidationError';
  readonly issues: ValidationIssue[];

  constructor(entitySet: string, issues: ValidationIssue[]) {
    super(`Record for '${entitySet}' failed validation: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, {
      code: ErrorCode.validation,
    });
    this.issues = issues;
  }
}
