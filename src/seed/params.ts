import { z } from "zod";

/** What `chunkgc seed` writes. Counts are exact; the generator derives everything else from `seed`. */
export const SeedParamsSchema = z.object({
  store: z.string().min(1),
  seed: z.number().int().default(1),
  chunks: z.number().int().min(1).default(1000).describe("unique chunks referenced by the kept snapshots"),
  dedup: z.number().min(1).default(3).describe("average index references per referenced chunk"),
  garbageChunks: z.number().int().min(0).default(0).describe("chunks only the (pruned) deleted snapshots used"),
  snapshots: z.number().int().min(1).default(12).describe("finished snapshots"),
  groups: z.number().int().min(1).default(3),
  namespaces: z.number().int().min(0).max(7).default(1).describe("nested namespaces below the root"),
  protectedEvery: z.number().int().min(0).default(4).describe("every Nth snapshot is protected; 0: none"),
  inProgressSnapshots: z.number().int().min(0).default(0).describe("running backups: indexes, no manifest"),
  inProgressStartedAt: z.number().int().optional().describe("start (epoch s) of the running backups"),
  abandonedSnapshots: z.number().int().min(0).default(0).describe("snapshot dirs without manifest, days old"),
  badReferencedNoGoodCopy: z.number().int().min(0).default(0),
  badReferencedWithGoodCopy: z.number().int().min(0).default(0),
  badUnreferenced: z.number().int().min(0).default(0),
  freshChunks: z.number().int().min(0).default(0).describe("unreferenced chunks uploaded in a later wave"),
  junkKeys: z.boolean().default(true).describe("keys under .chunks/ that are not chunks, and other strays"),
  neighbourStore: z.boolean().default(true).describe("a second datastore whose name extends this one's"),
  chunkPayloadBytes: z
    .number()
    .int()
    .min(1)
    .max(1 << 20)
    .default(24),
  referenceTime: z.number().int().optional().describe("epoch s the snapshot times count back from; default now"),
});
export type SeedParams = z.infer<typeof SeedParamsSchema>;
export type SeedParamsInput = z.input<typeof SeedParamsSchema>;
