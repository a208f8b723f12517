// Wire shapes of the fleet's software and service lists (GET /api/hosts/{ip}/software and /services,
// GET /api/software, GET /api/software/changes): the server builds its answers from these types.
import * as v from "valibot";
import { ServiceItemSchema, SoftwareItemSchema } from "./report.ts";

/** How the stored list stands: its hash, when it last changed, when a report last confirmed it. */
const ListStateEntries = {
  ip: v.string(),
  hash: v.string(),
  /** When a list with this hash was first stored. */
  changed_at: v.string(),
  /** The newest report that carried this hash (with or without items). */
  seen_at: v.string(),
  /** false when the agent's newest hash is one whose items never arrived: the list may be behind. */
  current: v.boolean(),
  count: v.number(),
};

export const HostSoftwareAnswerSchema = v.object({ ...ListStateEntries, items: v.array(SoftwareItemSchema) });
export const HostServicesAnswerSchema = v.object({ ...ListStateEntries, items: v.array(ServiceItemSchema) });

export const SoftwareHostSchema = v.object({
  ip: v.string(),
  name: v.string(),
  version: v.string(),
  arch: v.string(),
  source: v.string(),
  vendor: v.string(),
  user: v.nullable(v.string()),
  /** When the host's list holding this entry was stored. */
  changed_at: v.string(),
});

export const SoftwareSearchAnswerSchema = v.object({
  name: v.string(),
  version_lt: v.nullable(v.string()),
  count: v.number(),
  hosts: v.array(SoftwareHostSchema),
});

export const SOFTWARE_CHANGES = ["installed", "upgraded", "downgraded", "removed"] as const;

export const SoftwareChangeSchema = v.object({
  at: v.string(),
  ip: v.string(),
  change: v.picklist(SOFTWARE_CHANGES),
  name: v.string(),
  arch: v.string(),
  source: v.string(),
  user: v.nullable(v.string()),
  old_version: v.nullable(v.string()),
  new_version: v.nullable(v.string()),
});

export const SoftwareChangesAnswerSchema = v.object({
  since: v.string(),
  count: v.number(),
  /** More changes follow: ask again with the same `since` and `after` set to the last change's `id`. */
  truncated: v.boolean(),
  changes: v.array(v.object({ id: v.number(), ...SoftwareChangeSchema.entries })),
});

export type HostSoftwareAnswer = v.InferOutput<typeof HostSoftwareAnswerSchema>;
export type HostServicesAnswer = v.InferOutput<typeof HostServicesAnswerSchema>;
export type SoftwareHost = v.InferOutput<typeof SoftwareHostSchema>;
export type SoftwareSearchAnswer = v.InferOutput<typeof SoftwareSearchAnswerSchema>;
export type SoftwareChange = v.InferOutput<typeof SoftwareChangeSchema>;
export type SoftwareChangesAnswer = v.InferOutput<typeof SoftwareChangesAnswerSchema>;
