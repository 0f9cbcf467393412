import { KeyFormatError } from "./errors.ts";
import { indexKindOfFileName } from "./index-file.ts";
import type { IndexKind } from "./index-header.ts";
import { contentKey, contentPrefix } from "./keys.ts";
import { parseSnapshotTime } from "./snapshot-time.ts";

/*
 * Paths inside `<store>/.cnt/` (docs/datastore-format.md#content-files):
 *   ns/<a>/ns/<b>/.namespace                    namespace marker (depth ≤ 7)
 *   [ns/…/]<type>/<id>/owner | notes            backup group files
 *   [ns/…/]<type>/<id>/<YYYY-MM-DDTHH:MM:SSZ>/<file>
 *                                               snapshot files: *.fidx, *.didx, *.blob, index.json.blob, .protected
 */

export type BackupType = "vm" | "ct" | "host";
export const BACKUP_TYPES: readonly BackupType[] = ["vm", "ct", "host"];
export const MAX_NAMESPACE_DEPTH = 7;
export const NAMESPACE_DIR = "ns";
export const NAMESPACE_MARKER_NAME = ".namespace";
export const OWNER_FILE_NAME = "owner";
export const NOTES_FILE_NAME = "notes";
export const MANIFEST_BLOB_NAME = "index.json.blob";
export const PROTECTED_MARKER_NAME = ".protected";

/** Backup ids and namespace components (PBS's safe id). */
const SAFE_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export function isSafeId(text: string): boolean {
  return SAFE_ID_RE.test(text);
}

export function isBackupType(text: string): text is BackupType {
  return text === "vm" || text === "ct" || text === "host";
}

export type GroupRef = { namespace: string[]; backupType: BackupType; backupId: string };
/** `snapshotTime` is the directory name, `YYYY-MM-DDTHH:MM:SSZ`. */
export type SnapshotRef = GroupRef & { snapshotTime: string };

export type NamespaceMarkerKey = { type: "namespace-marker"; namespace: string[] };
export type GroupFileKey = GroupRef & {
  type: "group-file";
  fileName: typeof OWNER_FILE_NAME | typeof NOTES_FILE_NAME;
  /** Relative to the datastore root, with a trailing `/`. */
  groupPath: string;
};
export type SnapshotFileKey = SnapshotRef & {
  type: "snapshot-file";
  epochSeconds: number;
  fileName: string;
  /** `index.json.blob`: its presence marks a finished backup. */
  isManifest: boolean;
  /** `.protected` */
  isProtectedMarker: boolean;
  /** Set for `*.fidx` / `*.didx`. */
  indexKind?: IndexKind;
  /** Relative to the datastore root, with a trailing `/`. */
  groupPath: string;
  /** Relative to the datastore root, with a trailing `/`. */
  snapshotPath: string;
};
/** Anything under `.cnt/` that is none of the above (unknown files, over-deep namespaces, malformed names). */
export type OtherContentKey = { type: "other"; relativePath: string };
export type ContentKey = NamespaceMarkerKey | GroupFileKey | SnapshotFileKey | OtherContentKey;

/** Classifies a key under `<store>/.cnt/`; undefined for keys outside it. */
export function parseContentKey(store: string, key: string): ContentKey | undefined {
  const prefix = contentPrefix(store);
  if (!key.startsWith(prefix)) return undefined;
  const relativePath = key.slice(prefix.length);
  const other: OtherContentKey = { type: "other", relativePath };
  const parts = relativePath.split("/");
  const namespace: string[] = [];
  let i = 0;
  while (parts[i] === NAMESPACE_DIR) {
    const name = parts[i + 1];
    if (name === undefined || !isSafeId(name) || namespace.length === MAX_NAMESPACE_DEPTH) return other;
    namespace.push(name);
    i += 2;
  }
  const rest = parts.length - i;
  if (rest === 1 && parts[i] === NAMESPACE_MARKER_NAME) return { type: "namespace-marker", namespace };
  const backupType = parts[i]!;
  const backupId = parts[i + 1];
  if (rest < 3 || rest > 4 || !isBackupType(backupType) || backupId === undefined || !isSafeId(backupId)) return other;
  const groupPath = `${parts.slice(0, i + 2).join("/")}/`;
  if (rest === 3) {
    const fileName = parts[i + 2]!;
    if (fileName !== OWNER_FILE_NAME && fileName !== NOTES_FILE_NAME) return other;
    return { type: "group-file", namespace, backupType, backupId, fileName, groupPath };
  }
  const snapshotTime = parts[i + 2]!;
  const fileName = parts[i + 3]!;
  const epochSeconds = parseSnapshotTime(snapshotTime);
  if (epochSeconds === undefined || fileName.length === 0) return other;
  const indexKind = indexKindOfFileName(fileName);
  return {
    type: "snapshot-file",
    namespace,
    backupType,
    backupId,
    snapshotTime,
    epochSeconds,
    fileName,
    isManifest: fileName === MANIFEST_BLOB_NAME,
    isProtectedMarker: fileName === PROTECTED_MARKER_NAME,
    ...(indexKind === undefined ? {} : { indexKind }),
    groupPath,
    snapshotPath: `${groupPath}${snapshotTime}/`,
  };
}

// Builders: relative paths (with a trailing `/` for directories) and full keys.

/** `ns/<a>/ns/<b>/` (empty for the root namespace). */
export function namespacePath(namespace: readonly string[]): string {
  if (namespace.length > MAX_NAMESPACE_DEPTH) {
    throw new KeyFormatError(namespace.join("/"), `namespace deeper than ${MAX_NAMESPACE_DEPTH} levels`);
  }
  let path = "";
  for (const name of namespace) {
    if (!isSafeId(name)) throw new KeyFormatError(name, "not a valid namespace name");
    path += `${NAMESPACE_DIR}/${name}/`;
  }
  return path;
}

/** `[ns/…/]<type>/<id>/` */
export function groupPath(group: GroupRef): string {
  if (!isBackupType(group.backupType)) throw new KeyFormatError(group.backupType, "backup type must be vm, ct or host");
  if (!isSafeId(group.backupId)) throw new KeyFormatError(group.backupId, "not a valid backup id");
  return `${namespacePath(group.namespace)}${group.backupType}/${group.backupId}/`;
}

/** `[ns/…/]<type>/<id>/<YYYY-MM-DDTHH:MM:SSZ>/` */
export function snapshotPath(snapshot: SnapshotRef): string {
  if (parseSnapshotTime(snapshot.snapshotTime) === undefined) {
    throw new KeyFormatError(snapshot.snapshotTime, "snapshot time must be YYYY-MM-DDTHH:MM:SSZ");
  }
  return `${groupPath(snapshot)}${snapshot.snapshotTime}/`;
}

function assertFileName(fileName: string): void {
  if (fileName.length === 0 || fileName.includes("/")) {
    throw new KeyFormatError(fileName, "file name must be non-empty and contain no '/'");
  }
}

/** `<store>/.cnt/ns/<a>/…/.namespace` */
export function namespaceMarkerKey(store: string, namespace: readonly string[]): string {
  return contentKey(store, `${namespacePath(namespace)}${NAMESPACE_MARKER_NAME}`);
}

/** `<store>/.cnt/[ns/…/]<type>/<id>/` */
export function groupDirKey(store: string, group: GroupRef): string {
  return contentKey(store, groupPath(group));
}

/** `<store>/.cnt/[ns/…/]<type>/<id>/owner` (or `notes`) */
export function groupFileKey(
  store: string,
  group: GroupRef,
  fileName: typeof OWNER_FILE_NAME | typeof NOTES_FILE_NAME,
): string {
  return contentKey(store, `${groupPath(group)}${fileName}`);
}

/** `<store>/.cnt/[ns/…/]<type>/<id>/<time>/`: the prefix to list one snapshot's files. */
export function snapshotDirKey(store: string, snapshot: SnapshotRef): string {
  return contentKey(store, snapshotPath(snapshot));
}

/** `<store>/.cnt/[ns/…/]<type>/<id>/<time>/<fileName>` */
export function snapshotFileKey(store: string, snapshot: SnapshotRef, fileName: string): string {
  assertFileName(fileName);
  return contentKey(store, `${snapshotPath(snapshot)}${fileName}`);
}
