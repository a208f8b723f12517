// GET /openapi.json: the OpenAPI 3.1 document of the app as built, made by hono-openapi from the
// describeRoute middleware that _endpoint.ts puts in front of every declared route. Its own 400 body for
// validator() middleware is off: relevo's routes answer with the error body of src/shared/api.ts.
import type { Hono } from "hono";
import { generateSpecs } from "hono-openapi";
import { ErrorBodySchema } from "../../shared/api.ts";
import type { AppEnv } from "../env.ts";
import { jsonSchema } from "./route-doc.ts";

export async function openApiDocument(app: Hono<AppEnv>, version: string): Promise<Record<string, unknown>> {
  const doc = await generateSpecs(app, {
    documentation: {
      openapi: "3.1.0",
      info: {
        title: "relevo",
        version,
        description:
          'Server inventory for Windows and Linux fleets. Every refusal is `{"error":{"code","message","details"?}}` with the status that says why.',
      },
      components: {
        schemas: { Error: jsonSchema(ErrorBodySchema) },
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "Authorization: Bearer <token>" },
          token: {
            type: "apiKey",
            in: "header",
            name: "Authorization",
            description: "Authorization: Token <token> (the seed's scheme)",
          },
        },
      },
    },
    excludeStaticFile: false,
    defaultValidationErrorResponse: false,
  });
  // hono-openapi writes an empty tags list when none are declared at the top; 3.1 allows it, but says nothing.
  const { tags, ...rest } = doc as Record<string, unknown> & { tags?: unknown[] };
  return tags?.length ? { ...rest, tags } : rest;
}
