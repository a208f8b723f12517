// `relevo-agent apply-update --state DIR`: run as root by relevo-agent-update.service when the agent
// (which cannot write /usr/local/bin) staged a verified update in its state directory. Trusts nothing the
// agent wrote: verifies the signature and SHA-256 again with this executable's own keys, refuses a
// version not newer than its own, runs the file with --version, renames it over the executable, restarts
// the service and waits for the new version to confirm a delivered report; otherwise it puts the previous
// executable back, refuses that version (in the agent's own refused list) and restarts the service.
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { defineCommand } from "citty";
import * as v from "valibot";
import { UsageError } from "../../shared/cli.ts";
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import { sha256Hex, verifyRelease } from "../../shared/release/manifest.ts";
import { compareSemver, parseSemver } from "../../shared/semver.ts";
import { VERSION } from "../../shared/version.ts";
import { startsAs } from "../update/fetch.ts";
import { READY_FILE, STAGED_DIR } from "../update/install-mode.ts";
import { trustedKeys } from "../update/keys.ts";
import { clearTrial, readTrial, refuseVersion, TRIAL_MS, UPDATE_DIR, writeTrial } from "../update/state.ts";
import { rollBack, swapIn } from "../update/swap.ts";

const StagedSchema = v.object({
  version: v.string(),
  file: v.string(),
  sums: v.string(),
  signature: v.string(),
});

async function systemctl(...args: string[]): Promise<number> {
  const proc = Bun.spawn(["systemctl", ...args], { stdin: "ignore", stdout: "inherit", stderr: "inherit" });
  return proc.exited;
}

export default defineCommand({
  meta: {
    name: "apply-update",
    description: "(root, from relevo-agent-update.service) install a staged update",
  },
  args: {
    state: { type: "string", required: true, description: "The agent service's state directory" },
    "update-key": { type: "string", description: "One more trusted minisign public key file" },
    service: { type: "string", default: "relevo-agent.service", description: "The unit to restart" },
  },
  async run({ args }) {
    const log = logger("update");
    const dir = join(args.state, UPDATE_DIR);
    const ready = join(dir, READY_FILE);
    if (!existsSync(ready)) {
      log.info(`nothing staged (${ready} is absent)`);
      return;
    }
    // First: the .path unit must not start us again for the same file, whatever happens below.
    rmSync(ready, { force: true });
    const owner = statSync(args.state);
    // Files written here stay the agent's own (it runs as a dynamic user and must read its refused list).
    const giveBack = () => {
      for (const name of ["refused.json", "trial.json"]) {
        const path = join(dir, name);
        if (existsSync(path)) chownSync(path, owner.uid, owner.gid);
      }
    };
    const staged = join(dir, STAGED_DIR);
    let version = "";
    let file = "";
    try {
      const parsed = v.safeParse(
        StagedSchema,
        JSON.parse(readFileSync(join(staged, "release.json"), "utf8")),
      );
      if (!parsed.success) throw new Error("release.json is not valid");
      const meta = parsed.output;
      version = meta.version;
      const release = await verifyRelease(meta.sums, meta.signature, trustedKeys(args["update-key"]));
      if (release.version !== meta.version)
        throw new Error(`signed as ${release.version}, staged as ${meta.version}`);
      const own = parseSemver(VERSION);
      const next = parseSemver(release.version);
      if (!own || !next || compareSemver(next, own) <= 0) throw new Error(`not newer than ${VERSION}`);
      if (!/^relevo-agent-[a-z0-9-]+(\.exe)?$/.test(meta.file)) throw new Error(`bad file name ${meta.file}`);
      file = join(staged, meta.file);
      const actual = sha256Hex(new Uint8Array(readFileSync(file)));
      if (actual !== release.sums.get(meta.file))
        throw new Error(`${meta.file}'s SHA-256 is not the signed one`);
      // Its mode is whatever the agent left: executable by root's decision only.
      chmodSync(file, 0o755);
      const broken = await startsAs(file, release.version);
      if (broken) throw new Error(`the new executable does not start: ${broken}`);
      log.info(`${release.version} verified again (key ${release.keyId}); installing it`);
    } catch (error) {
      if (version) refuseVersion(args.state, version, errorMessage(error), new Date());
      giveBack();
      rmSync(staged, { recursive: true, force: true });
      throw new UsageError(
        `refused the staged update${version ? ` ${version}` : ""}: ${errorMessage(error)}`,
      );
    }
    const swapped = swapIn(process.execPath, file);
    rmSync(staged, { recursive: true, force: true });
    writeTrial(args.state, {
      version,
      from: VERSION,
      executable: swapped.executable,
      previous: swapped.previous,
      started_at: new Date().toISOString(),
      confirmed: false,
    });
    giveBack();
    await systemctl("restart", args.service);
    log.info(`${version} installed and ${args.service} restarted; waiting for its first report`);
    const deadline = Date.now() + TRIAL_MS;
    while (Date.now() < deadline) {
      if (readTrial(args.state)?.confirmed) {
        log.success(`${version} delivered a report; the previous executable is kept at ${swapped.previous}`);
        return;
      }
      await Bun.sleep(2_000);
    }
    rollBack(swapped);
    clearTrial(args.state);
    refuseVersion(args.state, version, "no report within 10 minutes of its start", new Date());
    giveBack();
    await systemctl("restart", args.service);
    throw new UsageError(`${version} delivered no report within 10 minutes: rolled back to ${VERSION}`);
  },
});
