import { z } from "zod";
import { API_VERSION, KIND } from "./group.ts";
import { GarbageCollectionSpecSchema } from "./spec.ts";
import { GarbageCollectionStatusSchema } from "./status.ts";

/**
 * A whole GarbageCollection object as the operator reads it from the API server. Metadata is checked only for what
 * the operator uses; spec and status are fully validated (an invalid spec becomes Stalled/InvalidSpec).
 */
export const ObjectMetaSchema = z
  .object({
    name: z.string().min(1),
    namespace: z.string().min(1),
    uid: z.string().min(1),
    generation: z.int().nonnegative().default(0),
    resourceVersion: z.string().optional(),
    creationTimestamp: z.union([z.string(), z.date()]).optional(),
    deletionTimestamp: z.union([z.string(), z.date()]).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose();

export const GarbageCollectionSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: ObjectMetaSchema,
  spec: GarbageCollectionSpecSchema,
  status: GarbageCollectionStatusSchema.optional(),
});

export type GarbageCollection = z.infer<typeof GarbageCollectionSchema>;
export type GarbageCollectionMeta = z.infer<typeof ObjectMetaSchema>;
