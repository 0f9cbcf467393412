import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  groupDirKey,
  groupFileKey,
  KeyFormatError,
  namespaceMarkerKey,
  namespacePath,
  parseContentKey,
  type SnapshotRef,
  snapshotDirKey,
  snapshotFileKey,
} from "../../../src/datastore/index.ts";

const T = "2024-05-01T10:00:00Z";
const T_EPOCH = Date.UTC(2024, 4, 1, 10, 0, 0) / 1000;

describe("parseContentKey", () => {
  it("classifies a snapshot index in the root namespace", () => {
    assert.deepEqual(parseContentKey("store1", `store1/.cnt/vm/100/${T}/drive-scsi0.img.fidx`), {
      type: "snapshot-file",
      namespace: [],
      backupType: "vm",
      backupId: "100",
      snapshotTime: T,
      epochSeconds: T_EPOCH,
      fileName: "drive-scsi0.img.fidx",
      isManifest: false,
      isProtectedMarker: false,
      indexKind: "fixed",
      groupPath: "vm/100/",
      snapshotPath: `vm/100/${T}/`,
    });
  });

  it("classifies snapshot files in nested namespaces", () => {
    const key = `s/.cnt/ns/prod/ns/eu-1/ct/web.example_1/${T}/catalog.pcat1.didx`;
    const parsed = parseContentKey("s", key);
    assert.equal(parsed?.type, "snapshot-file");
    if (parsed?.type !== "snapshot-file") return;
    assert.deepEqual(parsed.namespace, ["prod", "eu-1"]);
    assert.equal(parsed.backupType, "ct");
    assert.equal(parsed.backupId, "web.example_1");
    assert.equal(parsed.indexKind, "dynamic");
    assert.equal(parsed.groupPath, "ns/prod/ns/eu-1/ct/web.example_1/");
    assert.equal(parsed.snapshotPath, `ns/prod/ns/eu-1/ct/web.example_1/${T}/`);
  });

  it("recognises the manifest, the protected marker and other blobs", () => {
    const manifest = parseContentKey("s", `s/.cnt/host/h1/${T}/index.json.blob`);
    assert.equal(manifest?.type === "snapshot-file" && manifest.isManifest, true);
    assert.equal(manifest?.type === "snapshot-file" && manifest.indexKind, undefined);
    const protectedMarker = parseContentKey("s", `s/.cnt/host/h1/${T}/.protected`);
    assert.equal(protectedMarker?.type === "snapshot-file" && protectedMarker.isProtectedMarker, true);
    assert.equal(protectedMarker?.type === "snapshot-file" && protectedMarker.isManifest, false);
    const blob = parseContentKey("s", `s/.cnt/host/h1/${T}/qemu-server.conf.blob`);
    assert.deepEqual(blob?.type === "snapshot-file" && [blob.isManifest, blob.isProtectedMarker, blob.indexKind], [
      false,
      false,
      undefined,
    ]);
  });

  it("classifies namespace markers and group files", () => {
    assert.deepEqual(parseContentKey("s", "s/.cnt/ns/a/ns/b/.namespace"), {
      type: "namespace-marker",
      namespace: ["a", "b"],
    });
    assert.deepEqual(parseContentKey("s", "s/.cnt/ns/a/vm/100/owner"), {
      type: "group-file",
      namespace: ["a"],
      backupType: "vm",
      backupId: "100",
      fileName: "owner",
      groupPath: "ns/a/vm/100/",
    });
    assert.equal(parseContentKey("s", "s/.cnt/ct/7/notes")?.type, "group-file");
  });

  it("accepts 7 namespace levels and not 8", () => {
    const seven = Array.from({ length: 7 }, (_, i) => `ns/n${i}`).join("/");
    const eight = `${seven}/ns/n7`;
    assert.equal(parseContentKey("s", `s/.cnt/${seven}/vm/1/${T}/a.fidx`)?.type, "snapshot-file");
    assert.equal(parseContentKey("s", `s/.cnt/${seven}/.namespace`)?.type, "namespace-marker");
    assert.deepEqual(parseContentKey("s", `s/.cnt/${eight}/vm/1/${T}/a.fidx`), {
      type: "other",
      relativePath: `${eight}/vm/1/${T}/a.fidx`,
    });
    assert.equal(parseContentKey("s", `s/.cnt/${eight}/.namespace`)?.type, "other");
  });

  const others = [
    ["unknown backup type", `qemu/100/${T}/a.fidx`],
    ["id starting with a dot", `vm/.100/${T}/a.fidx`],
    ["id starting with a dash", `vm/-1/${T}/a.fidx`],
    ["id with a space", `vm/1 2/${T}/a.fidx`],
    ["namespace with a bad name", `ns/-x/vm/1/${T}/a.fidx`],
    ["namespace without name", "ns"],
    ["namespace dir only", "ns/a/"],
    ["time without Z", "vm/1/2024-05-01T10:00:00/a.fidx"],
    ["time with millis", "vm/1/2024-05-01T10:00:00.000Z/a.fidx"],
    ["lowercase t", "vm/1/2024-05-01t10:00:00Z/a.fidx"],
    ["February 30", "vm/1/2024-02-30T10:00:00Z/a.fidx"],
    ["hour 24", "vm/1/2024-05-01T24:00:00Z/a.fidx"],
    ["second 60", "vm/1/2024-05-01T10:00:60Z/a.fidx"],
    ["month 13", "vm/1/2024-13-01T10:00:00Z/a.fidx"],
    ["snapshot directory marker", `vm/1/${T}/`],
    ["file nested in a snapshot", `vm/1/${T}/sub/a.fidx`],
    ["unknown group file", "vm/1/something"],
    ["group dir", "vm/1/"],
    ["top-level file", "lost+found"],
    ["chunkgc lock", ".chunkgc/lock"],
  ] as const;
  for (const [what, path] of others) {
    it(`returns "other" for ${what}`, () => {
      assert.deepEqual(parseContentKey("s", `s/.cnt/${path}`), { type: "other", relativePath: path });
    });
  }

  it("returns undefined outside <store>/.cnt/", () => {
    assert.equal(parseContentKey("s", `s2/.cnt/vm/1/${T}/a.fidx`), undefined);
    assert.equal(parseContentKey("s", `x/s/.cnt/vm/1/${T}/a.fidx`), undefined);
    assert.equal(parseContentKey("s", "s/.chunks/0000/00"), undefined);
    assert.equal(parseContentKey("s", "s/.in-use"), undefined);
    assert.equal(parseContentKey("s.x", `sXx/.cnt/vm/1/${T}/a.fidx`), undefined);
  });
});

describe("content key builders", () => {
  const snapshot: SnapshotRef = { namespace: ["prod", "eu"], backupType: "vm", backupId: "100", snapshotTime: T };

  it("build the paths of docs/datastore-format.md#content-files", () => {
    assert.equal(namespacePath([]), "");
    assert.equal(namespaceMarkerKey("s", ["a", "b"]), "s/.cnt/ns/a/ns/b/.namespace");
    assert.equal(groupDirKey("s", { namespace: [], backupType: "ct", backupId: "7" }), "s/.cnt/ct/7/");
    assert.equal(groupFileKey("s", snapshot, "owner"), "s/.cnt/ns/prod/ns/eu/vm/100/owner");
    assert.equal(snapshotDirKey("s", snapshot), `s/.cnt/ns/prod/ns/eu/vm/100/${T}/`);
    assert.equal(snapshotFileKey("s", snapshot, "index.json.blob"), `s/.cnt/ns/prod/ns/eu/vm/100/${T}/index.json.blob`);
  });

  it("round-trip through parseContentKey", () => {
    const parsed = parseContentKey("s", snapshotFileKey("s", snapshot, "drive-scsi0.img.fidx"));
    assert.equal(parsed?.type, "snapshot-file");
    if (parsed?.type !== "snapshot-file") return;
    const { namespace, backupType, backupId, snapshotTime } = parsed;
    assert.deepEqual({ namespace, backupType, backupId, snapshotTime }, snapshot);
    assert.deepEqual(parseContentKey("s", namespaceMarkerKey("s", ["a"])), {
      type: "namespace-marker",
      namespace: ["a"],
    });
  });

  it("refuse invalid parts", () => {
    assert.throws(() => snapshotDirKey("s", { ...snapshot, snapshotTime: "2024-05-01 10:00:00" }), KeyFormatError);
    assert.throws(() => snapshotDirKey("s", { ...snapshot, backupId: "a/b" }), KeyFormatError);
    assert.throws(() => snapshotDirKey("s", { ...snapshot, backupType: "qemu" as "vm" }), KeyFormatError);
    assert.throws(() => snapshotDirKey("s", { ...snapshot, namespace: ["ok", ".bad"] }), KeyFormatError);
    assert.throws(() => namespacePath(Array.from({ length: 8 }, () => "n")), KeyFormatError);
    assert.throws(() => snapshotFileKey("s", snapshot, "a/b"), KeyFormatError);
    assert.throws(() => snapshotFileKey("s", snapshot, ""), KeyFormatError);
  });
});
