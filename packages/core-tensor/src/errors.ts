/**
 * The one error type the toolkit throws for bad input. `subject` names the file, tensor,
 * flag or layer at fault so that a user can act on the message alone.
 */
export class AutoRoundError extends Error {
  readonly code: string;
  readonly subject: string | undefined;

  constructor(code: string, message: string, options?: { subject?: string; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'AutoRoundError';
    this.code = code;
    this.subject = options?.subject;
  }
}

/** By shape, not instanceof: a plugin may bring its own copy of this package. */
export function isAutoRoundError(e: unknown): e is AutoRoundError {
  return e instanceof Error && e.name === 'AutoRoundError' && typeof (e as { code?: unknown }).code === 'string';
}
