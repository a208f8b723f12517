// Imported from package.json so the bundler inlines it: a compiled binary has no package.json to read.
// scripts/build.ts --version replaces RELEVO_BUILD_VERSION at build time (tests build version A and B).
import pkg from "../../package.json" with { type: "json" };

declare const RELEVO_BUILD_VERSION: string | undefined;

export const VERSION: string = typeof RELEVO_BUILD_VERSION === "string" ? RELEVO_BUILD_VERSION : pkg.version;
