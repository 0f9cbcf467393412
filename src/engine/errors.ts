/**
 * A safety rule stopped the run before any deletion (docs/gc-semantics.md#safety-rules); the process exits with
 * code 3.
 */
export class SafetyAbortError extends Error {
  override name = "SafetyAbortError";
  readonly exitCode = 3;
  readonly rule: string;
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.rule = rule;
  }
}
