// Swagger UI's files, imported `with { type: "file" }`: a path, which `bun build --compile` embeds in the
// server executable and which Bun.file reads from there.
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
