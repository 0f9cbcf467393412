/**
 * The "s3" suite service: versitygw and Ceph RGW, started in parallel for the whole suite run. Test files find them
 * through CHUNKGC_TEST_S3_SERVERS (a JSON array of {@link S3ServerConnection}); test/support/s3-servers.ts reads it
 * and starts servers of its own when it is absent.
 */
import { join } from "node:path";
import type { ServiceDefinition } from "../harness/services.ts";
import { start as startCeph } from "./ceph-rgw.ts";
import { connectionOf, type S3ServerHandle } from "./s3-server.ts";
import { start as startVersitygw } from "./versitygw.ts";

export const S3_SERVERS_ENV = "CHUNKGC_TEST_S3_SERVERS";

export type ServerStarter = (workDir: string, signal?: AbortSignal) => Promise<S3ServerHandle>;

/**
 * Starts every server at once; when one fails, the others are stopped again and the first failure is thrown
 * (with the others' failures attached), so nothing is left running.
 */
export async function startServers(
  starters: readonly { name: string; start: ServerStarter }[],
  workDir: string,
  signal?: AbortSignal,
): Promise<S3ServerHandle[]> {
  const results = await Promise.allSettled(starters.map(({ name, start }) => start(join(workDir, name), signal)));
  const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason as unknown] : []));
  const handles = results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  if (failures.length > 0) {
    await Promise.all(handles.map((handle) => handle.stop().catch(() => {})));
    if (failures.length === 1) throw failures[0];
    throw new AggregateError(failures, `${failures.length} S3 test servers failed to start`);
  }
  return handles;
}

export const ALL_SERVERS = [
  { name: "versitygw", start: startVersitygw },
  { name: "ceph-rgw", start: startCeph },
] as const;

export function s3Service(): ServiceDefinition {
  return {
    name: "s3",
    async start({ workDir, signal }) {
      const handles = await startServers(ALL_SERVERS, workDir, signal);
      return {
        name: "s3",
        env: { [S3_SERVERS_ENV]: JSON.stringify(handles.map(connectionOf)) },
        stop: async () => {
          await Promise.all(handles.map((handle) => handle.stop()));
        },
      };
    },
  };
}
