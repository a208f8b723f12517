// Runs under plain Node before `npm start` / `npm test`: a fresh clone has no node_modules and no Bun yet.
// Bun itself is a pinned devDependency, so `npm ci` brings everything the project needs.
import { execSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const bun = join("node_modules", ".bin", process.platform === "win32" ? "bun.exe" : "bun");
if (!existsSync(bun)) {
  console.error("relevo: installing dependencies (npm ci) ...");
  execSync("npm ci --no-audit --no-fund", { stdio: "inherit" });
}
