// What a route file may say about an endpoint for /openapi.json, beside the method, path and role that
// _endpoint.ts already knows: a summary, its parameters and bodies as the same valibot schemas the route
// validates with. Rules valibot `check` actions enforce do not convert to JSON Schema: the route says them
// in `description` (or the parameter's own), and the conversion ignores those actions.
import { toJsonSchema } from "@valibot/to-json-schema";
import type { MiddlewareHandler } from "hono";
import { describeRoute } from "hono-openapi";
import type * as v from "valibot";
import type { Role } from "../auth/tokens.ts";

type AnySchema = v.GenericSchema;
/** A piece of the OpenAPI document (hono-openapi checks the whole against its own types). */
type Json = Record<string, unknown>;

export interface ParamDoc {
  /** A valibot schema for the value, or a JSON Schema type name for a plain one. */
  schema?: AnySchema;
  type?: "string" | "integer" | "number" | "boolean";
  description: string;
  required?: boolean;
}

export interface ResponseDoc {
  description: string;
  schema?: AnySchema;
  /** Default application/json. */
  media?: string;
}

export interface RouteDoc {
  summary: string;
  description?: string;
  tags?: string[];
  query?: Record<string, ParamDoc>;
  headers?: Record<string, ParamDoc>;
  body?: { description: string; schema?: AnySchema; media?: readonly string[]; required?: boolean };
  /** Success and error answers by status; 401/403 (for a role) and the error body are added. */
  responses?: Record<number, ResponseDoc>;
}

export const ERROR_REF = { $ref: "#/components/schemas/Error" } as const;

/** JSON Schema 2020-12 (what OpenAPI 3.1 uses) from a valibot schema; `check` actions are left out. */
export function jsonSchema(schema: AnySchema): Json {
  const { $schema: _, ...rest } = toJsonSchema(schema, {
    target: "draft-2020-12",
    errorMode: "ignore",
  }) as Record<string, unknown>;
  return rest as Json;
}

function parameter(name: string, where: "query" | "header", doc: ParamDoc): Json {
  return {
    name,
    in: where,
    required: doc.required ?? false,
    description: doc.description,
    schema: doc.schema ? jsonSchema(doc.schema) : { type: doc.type ?? "string" },
  };
}

const ERROR_TEXT: Record<number, string> = {
  400: "Malformed request (JSON, gzip, parameters)",
  401: "Missing or unknown token",
  403: "The token's role may not call this endpoint",
  404: "Nothing stored for that",
  408: "The body took too long to arrive",
  409: "Conflict with what is stored",
  413: "Body too large (after decompression too)",
  415: "Not JSON",
  422: "Schema violations, with the path of each bad field in details",
  429: "Rate limited (see Retry-After)",
  503: "The store or database cannot take writes now, or is busy",
};

function roleList(role: Role | readonly Role[] | null): readonly Role[] {
  if (role === null) return [];
  return typeof role === "string" ? [role] : role;
}

/** The describeRoute middleware for one method of one path, from its declaration and its doc. */
export function describe(
  method: string,
  path: string,
  role: Role | readonly Role[] | null,
  doc: RouteDoc | undefined,
): MiddlewareHandler {
  const roles = roleList(role);
  const responses: Record<string, Json> = {};
  for (const [status, answer] of Object.entries(doc?.responses ?? {})) {
    const code = Number(status);
    const schema = answer.schema ? jsonSchema(answer.schema) : code >= 400 ? ERROR_REF : undefined;
    const media = answer.media ?? (schema ? "application/json" : undefined);
    responses[status] = {
      description: answer.description,
      ...(media ? { content: { [media]: schema ? { schema } : {} } } : {}),
    };
  }
  if (!Object.keys(responses).some((status) => Number(status) < 400))
    responses["200"] = { description: "OK" };
  const errors = [...(roles.length ? [401, 403, 429] : []), ...(doc?.body ? [400, 413, 415] : [])];
  for (const code of errors) {
    responses[String(code)] ??= {
      description: ERROR_TEXT[code] ?? "Refused",
      content: { "application/json": { schema: ERROR_REF } },
    };
  }
  const roleText = roles.length ? `Token role: ${roles.join(" or ")}.` : "No token needed.";
  const parameters = [
    ...Object.entries(doc?.query ?? {}).map(([name, p]) => parameter(name, "query", p)),
    ...Object.entries(doc?.headers ?? {}).map(([name, p]) => parameter(name, "header", p)),
  ];
  const body = doc?.body;
  const operation: Json = {
    operationId:
      `${method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ""))}` ||
      method.toLowerCase(),
    summary: doc?.summary ?? `${method} ${path}`,
    description: [doc?.description, roleText].filter(Boolean).join("\n\n"),
    tags: doc?.tags ?? [path.split("/")[1] || "service"],
    security: roles.length ? [{ bearer: [] }, { token: [] }] : [],
    ...(roles.length ? { "x-relevo-roles": [...roles] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(body
      ? {
          requestBody: {
            description: body.description,
            required: body.required ?? true,
            content: Object.fromEntries(
              (body.media ?? ["application/json"]).map((media) => [
                media,
                { schema: body.schema ? jsonSchema(body.schema) : {} },
              ]),
            ),
          },
        }
      : {}),
    responses,
  };
  return describeRoute(operation as unknown as Parameters<typeof describeRoute>[0]);
}
