/**
 * A service the test suite needs (an S3 server, a Kubernetes control plane): started once by the suite runner,
 * described to the test files through environment variables, stopped when the suite ends, also on failure.
 */
export interface RunningService {
  readonly name: string;
  /** Variables the test processes inherit, e.g. CHUNKGC_TEST_S3_SERVERS. */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

export interface ServiceDefinition {
  readonly name: string;
  start(options: { workDir: string; signal: AbortSignal }): Promise<RunningService>;
}
