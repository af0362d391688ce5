import { DynamicsError } from './DynamicsError';
import { ErrorCode } from './codes';

/** One problem found in configuration: the option's or environment variable's name and what was expected. */
export interface ConfigurationIssue {
  name: string;
  expected: string;
}

/**
 * Options or environment variables failed validation. The message lists every problem with the
 * option's or variable's name and what was expected, never a secret's value.
 */
export class ConfigurationError extends DynamicsError {
  override name = 'ConfigurationError';
  readonly issues: ConfigurationIssue[];

  constructor(issues: ConfigurationIssue[], context = 'Invalid dynamics-odata configuration') {
    super(`${context}:\n${issues.map((i) => `  - ${i.name}: expected ${i.expected}`).join('\n')}`, {
      code: ErrorCode.invalidConfiguration,
    });
    this.issues = issues;
  }
}
