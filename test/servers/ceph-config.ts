/**
 * The ceph.conf of the throwaway single-node test cluster: one monitor, one bluestore OSD on a sparse file, pools of
 * size 1, no authentication (everything listens on 127.0.0.1 only), radosgw on a loopback port.
 */
import { join } from "node:path";

export interface CephConfigInput {
  readonly fsid: string;
  /** The cluster's directory: mon/, osd/, rgw/, log/ live under it. */
  readonly dir: string;
  readonly monPort: number;
  readonly rgwPort: number;
  /** Apparent size of the OSD's sparse block file (only what is written takes disk space). */
  readonly blockBytes?: number;
}

export const RGW_CLIENT_NAME = "client.rgw.a";
export const MON_ID = "a";
const DEFAULT_BLOCK_BYTES = 64 * 1024 ** 3;

export function cephConfig(input: CephConfigInput): string {
  const { fsid, dir, monPort, rgwPort } = input;
  const lines = [
    "[global]",
    `fsid = ${fsid}`,
    `mon host = v2:127.0.0.1:${monPort}`,
    "public network = 127.0.0.0/8",
    "ms bind msgr1 = false",
    // No authentication: the cluster listens on loopback only and lives for one test run.
    "auth cluster required = none",
    "auth service required = none",
    "auth client required = none",
    // Without this, radosgw (and other clients) hang forever talking to a monitor with auth disabled.
    "ms mon client mode = crc secure",
    `keyring = ${join(dir, "keyring")}`,
    `log file = ${join(dir, "log", "$name.log")}`,
    // No admin sockets or pid files: nothing outside the cluster directory, no socket path length limits.
    "admin socket = ",
    `run dir = ${join(dir, "run")}`,
    "pid file = ",
    `mon data = ${join(dir, "mon", "$cluster-$id")}`,
    `osd data = ${join(dir, "osd", "$id")}`,
    // Every monitor decision (pool create, osd boot) waits one propose interval (1 s by default); radosgw creates
    // its pools one command at a time, so this is most of the start-up time: 19 s with the defaults, ~8 s here.
    "paxos propose interval = 0.05",
    "paxos min wait = 0.01",
    "osd pool default size = 1",
    "osd pool default min size = 1",
    "osd pool default pg num = 8",
    "osd pool default pgp num = 8",
    "osd pool default pg autoscale mode = off",
    "osd crush chooseleaf type = 0",
    "mon allow pool size one = true",
    "mon allow pool delete = true",
    "mon warn on pool no redundancy = false",
    "mon max pg per osd = 1000",
    "osd objectstore = bluestore",
    // Let bluestore create its block file (setting `bluestore block path` inside the OSD directory loops at mkfs).
    "bluestore block create = true",
    `bluestore block size = ${input.blockBytes ?? DEFAULT_BLOCK_BYTES}`,
    // Millions of tiny chunk objects: allocate 4 KiB units, keep the caches small on a 2-core test machine.
    "bluestore min alloc size = 4096",
    "bluestore cache autotune = false",
    "bluestore cache size = 134217728",
    "",
    `[${RGW_CLIENT_NAME}]`,
    `rgw frontends = beast endpoint=127.0.0.1:${rgwPort}`,
    `rgw data = ${join(dir, "rgw")}`,
    "",
  ];
  return lines.join("\n");
}
