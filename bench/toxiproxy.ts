/**
 * A cloud-like round trip between a client and a local S3 server: toxiproxy (built by scripts/install.d/40-toxiproxy.sh)
 * forwards TCP and its `latency` toxic holds every piece of data for latency ± jitter in each direction, so that a
 * request/response pair pays the configured round trip (half on the way up, half on the way down).
 */
import { join } from "node:path";
import { freePort, ManagedProcess, waitUntilReady } from "../test/cluster/processes.ts";
import { chunkgcCacheDir, controlledEnv } from "../test/servers/s3-server.ts";

export interface LatencyProfile {
  /** Round trip added to every request, milliseconds. */
  readonly rttMs: number;
  /** Uniform jitter of the round trip, ± milliseconds. */
  readonly jitterMs: number;
}

export interface Toxiproxy {
  /** An endpoint (http://127.0.0.1:port) that forwards to `upstream` with the profile's latency. */
  proxy(name: string, upstream: string, profile: LatencyProfile): Promise<string>;
  stop(): Promise<void>;
}

/** "20ms" → 20 ms round trip with ±25 % jitter (a WAN's spread); "0ms" → no proxy at all. */
export function parseLatency(text: string): LatencyProfile {
  const match = /^(\d+(?:\.\d+)?)ms(?:±(\d+(?:\.\d+)?)ms)?$/.exec(text.trim());
  if (!match) throw new Error(`latency "${text}" is not like 20ms or 20ms±5ms`);
  const rttMs = Number(match[1]);
  return { rttMs, jitterMs: match[2] !== undefined ? Number(match[2]) : rttMs / 4 };
}

async function api(base: string, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`toxiproxy ${path}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

export async function startToxiproxy(workDir: string): Promise<Toxiproxy> {
  const binary = process.env.CHUNKGC_TOXIPROXY_BIN ?? join(chunkgcCacheDir(), "bin", "toxiproxy-server");
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = new ManagedProcess({
    name: "toxiproxy",
    command: binary,
    args: ["-host", "127.0.0.1", "-port", String(port)],
    logPath: join(workDir, "toxiproxy.log"),
    env: controlledEnv({ LOG_LEVEL: "warn" }),
    graceSeconds: 2,
  });
  await waitUntilReady(
    proc,
    async () => {
      try {
        return (await fetch(`${base}/version`)).ok;
      } catch {
        return false;
      }
    },
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  return {
    async proxy(name, upstream, profile) {
      const listenPort = await freePort();
      const upstreamAddress = new URL(upstream).host;
      await api(base, "/proxies", {
        name,
        listen: `127.0.0.1:${listenPort}`,
        upstream: upstreamAddress,
        enabled: true,
      });
      for (const stream of ["upstream", "downstream"] as const) {
        await api(base, `/proxies/${name}/toxics`, {
          name: `latency-${stream}`,
          type: "latency",
          stream,
          toxicity: 1,
          attributes: { latency: Math.round(profile.rttMs / 2), jitter: Math.round(profile.jitterMs / 2) },
        });
      }
      return `http://127.0.0.1:${listenPort}`;
    },
    async stop() {
      await proc.stop(5000);
    },
  };
}
