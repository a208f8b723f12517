// Imported from package.json so the bundler inlines it: a compiled binary has no package.json to read.
import pkg from "../../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
