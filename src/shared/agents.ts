// Wire shapes of agent enrollment and the IT-monitoring integration guide's API (register, inventory, update
// check, health), shared by the server (validates with them) and relevo's own agent (parses answers).
// Objects are loose so the guide's extra fields survive; every string and list is bounded.
import * as v from "valibot";

export const INVENTORY_LIMITS = {
  text: 256,
  longText: 4096,
  software: 20_000,
} as const;

const text = (max: number = INVENTORY_LIMITS.text) => v.pipe(v.string(), v.maxLength(max));
const nonEmpty = (max: number = INVENTORY_LIMITS.text) =>
  v.pipe(v.string(), v.minLength(1), v.maxLength(max));
const amount = v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(1e12));

export const RegisterRequestSchema = v.looseObject({
  hostname: nonEmpty(),
  os_type: nonEmpty(64),
  os_version: text(),
  agent_version: nonEmpty(64),
  /** /etc/machine-id or the Windows MachineGuid: what makes a re-registration the same machine. */
  machine_id: v.optional(v.nullable(v.pipe(v.string(), v.regex(/^[A-Za-z0-9{}-]{1,128}$/)))),
});

export const RegisterAnswerSchema = v.object({
  success: v.literal(true),
  agent_id: v.number(),
  message: v.string(),
  /** The agent's own token, shown this once; the server keeps only its hash. */
  token: v.string(),
});

export const SoftwareItemSchema = v.looseObject({
  name: text(INVENTORY_LIMITS.longText),
  version: v.optional(v.nullable(text())),
  publisher: v.optional(v.nullable(text())),
  install_date: v.optional(v.nullable(text(64))),
});

export const InventorySchema = v.looseObject({
  agent_id: v.pipe(v.number(), v.integer(), v.minValue(1)),
  timestamp: text(64),
  hostname: nonEmpty(),
  hardware: v.looseObject({
    processor: v.optional(v.nullable(text())),
    ram_gb: v.optional(v.nullable(amount)),
    total_disk_gb: v.optional(v.nullable(amount)),
    manufacturer: v.optional(v.nullable(text())),
    model: v.optional(v.nullable(text())),
    serial_number: v.optional(v.nullable(text())),
  }),
  software: v.looseObject({
    total_software: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0)))),
    installed_software: v.pipe(v.array(SoftwareItemSchema), v.maxLength(INVENTORY_LIMITS.software)),
  }),
  domain: v.looseObject({
    is_domain_joined: v.boolean(),
    domain_name: v.optional(v.nullable(text())),
  }),
});

export const InventoryAnswerSchema = v.object({
  success: v.literal(true),
  message: v.string(),
  next_report_in: v.number(),
});

export const UpdateCheckAnswerSchema = v.union([
  v.object({ update_available: v.literal(false) }),
  v.object({
    update_available: v.literal(true),
    latest_version: v.string(),
    download_url: v.string(),
    changelog: v.string(),
    /** relevo's own agents check these before running anything (see src/agent/update/). */
    sha256: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))),
    /** The executable's name in the signed SHA256SUMS. */
    file: v.optional(v.pipe(v.string(), v.maxLength(128))),
    sums: v.optional(v.pipe(v.string(), v.maxLength(16_384))),
    signature: v.optional(v.pipe(v.string(), v.maxLength(4_096))),
  }),
]);

export const COMMAND_KINDS = ["collect", "update"] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

/** A command for an agent, as the queue holds it (and GET /api/agents/{id} shows the latest ones). */
export const AgentCommandSchema = v.object({
  id: v.number(),
  kind: v.picklist(COMMAND_KINDS),
  state: v.picklist(["queued", "delivered", "done", "failed"]),
  created_at: v.string(),
  delivered_at: v.nullable(v.string()),
  finished_at: v.nullable(v.string()),
  message: v.nullable(v.string()),
});

/** GET /api/agents/{id}/commands?wait=55: what the agent is asked to do (empty when the wait ran out). */
export const CommandsAnswerSchema = v.object({ commands: v.array(AgentCommandSchema) });

/** POST /api/agents/{id}/commands/{command}: the agent's outcome. */
export const CommandOutcomeSchema = v.object({
  state: v.picklist(["done", "failed"]),
  message: v.pipe(v.string(), v.maxLength(1024)),
});

export const AGENT_STATES = ["active", "revoked"] as const;

export const AgentRecordSchema = v.object({
  id: v.number(),
  machine_id: v.nullable(v.string()),
  hostname: v.string(),
  os_type: v.string(),
  os_version: v.string(),
  version: v.string(),
  first_seen: v.string(),
  last_seen: v.string(),
  last_ip: v.nullable(v.string()),
  state: v.picklist(AGENT_STATES),
  /** ok, or stale once three report intervals passed without a word from it. */
  health: v.picklist(["ok", "stale"]),
  /** GET /api/agents/{id} only: its latest commands, newest first. */
  commands: v.optional(v.array(AgentCommandSchema)),
});

export const AgentListQuerySchema = v.object({
  state: v.optional(v.picklist([...AGENT_STATES, "stale"])),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,4}$/), v.transform(Number), v.minValue(1), v.maxValue(1000)),
    "100",
  ),
  offset: v.optional(v.pipe(v.string(), v.regex(/^\d{1,9}$/), v.transform(Number)), "0"),
});

export const AgentHealthSchema = v.object({
  status: v.picklist(["ok", "stale", "revoked", "unknown"]),
  server_time: v.string(),
  message: v.string(),
});

export type RegisterRequest = v.InferOutput<typeof RegisterRequestSchema>;
export type RegisterAnswer = v.InferOutput<typeof RegisterAnswerSchema>;
export type Inventory = v.InferOutput<typeof InventorySchema>;
export type InventoryAnswer = v.InferOutput<typeof InventoryAnswerSchema>;
export type UpdateCheckAnswer = v.InferOutput<typeof UpdateCheckAnswerSchema>;
export type AgentRecord = v.InferOutput<typeof AgentRecordSchema>;
export type AgentListQuery = v.InferOutput<typeof AgentListQuerySchema>;
export type AgentHealth = v.InferOutput<typeof AgentHealthSchema>;
export type AgentCommand = v.InferOutput<typeof AgentCommandSchema>;
export type CommandsAnswer = v.InferOutput<typeof CommandsAnswerSchema>;
export type CommandOutcome = v.InferOutput<typeof CommandOutcomeSchema>;
