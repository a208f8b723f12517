// The Linux self-update plan (install --print): the agent's unit stages updates, a .path unit on the
// staged file starts a root oneshot that verifies and swaps; --no-auto-update leaves both out. The swap
// itself runs in the real-install suite on throwaway machines.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentSpec } from "../../src/agent/commands/install.ts";
import { renderPlan } from "../../src/shared/service/plan.ts";
import { planInstall, planUninstall } from "../../src/shared/service/platform.ts";
import { systemdUnit, updatePathUnit, updateServiceUnit } from "../../src/shared/service/systemd.ts";

const host = {
  platform: "linux" as const,
  env: {},
  execPath: "/root/relevo-agent-linux-x64",
  cwd: "/root",
  version: "1.2.3",
};
const linux = { platform: "linux" as const, cwd: "/root", env: {} };
const spec = agentSpec({ url: "http://inv:5000", "update-key": "/etc/relevo/next.pub" }, linux);

describe("the Linux self-update units", () => {
  test("the agent's unit only stages updates", () => {
    const unit = systemdUnit(spec, "1.2.3");
    expect(unit).toContain("Environment=RELEVO_UPDATE_VIA=path-unit\n");
    expect(unit).toContain("ProtectSystem=strict\n");
    expect(unit).toContain("--update-key %d/update-key");
  });
  test("a .path unit on the staged file starts the root oneshot, which verifies again and swaps", () => {
    expect(updatePathUnit(spec, "1.2.3")).toContain(
      "PathExists=/var/lib/private/relevo-agent/update/ready\n",
    );
    expect(updatePathUnit(spec, "1.2.3")).toContain("Unit=relevo-agent-update.service\n");
    const oneshot = updateServiceUnit(spec, "1.2.3");
    expect(oneshot).toContain("Type=oneshot\n");
    expect(oneshot).toContain(
      "ExecStart=/usr/local/bin/relevo-agent apply-update --state /var/lib/private/relevo-agent --update-key /etc/relevo/next.pub\n",
    );
    expect(oneshot).not.toContain("DynamicUser");
  });
  test("install --print shows both units, and uninstall removes them", () => {
    const text = renderPlan(planInstall(spec, host));
    expect(text).toContain("/etc/systemd/system/relevo-agent-update.service");
    expect(text).toContain("/etc/systemd/system/relevo-agent-update.path");
    expect(text).toContain("systemctl enable --now relevo-agent-update.path");
    const removed = planUninstall(spec, host, false).steps.flatMap((s) =>
      s.kind === "remove" ? [s.path] : [],
    );
    expect(removed).toContain("/etc/systemd/system/relevo-agent-update.path");
    expect(removed).toContain("/etc/systemd/system/relevo-agent-update.service");
  });
  test("--no-auto-update installs neither", () => {
    const off = agentSpec({ url: "http://inv:5000", "auto-update": false }, linux);
    expect(systemdUnit(off, "1.2.3")).not.toContain("RELEVO_UPDATE_VIA");
    expect(systemdUnit(off, "1.2.3")).toContain("--no-auto-update");
    expect(renderPlan(planInstall(off, host))).not.toContain("relevo-agent-update");
  });
});

const verify = Bun.which("systemd-analyze");
describe.skipIf(!verify)("systemd-analyze verify (the update units)", () => {
  test("finds nothing wrong but the executable not being installed here", () => {
    const dir = mkdtempSync(join(tmpdir(), "relevo-units-"));
    writeFileSync(join(dir, "relevo-agent.service"), systemdUnit(spec, "1.2.3"));
    writeFileSync(join(dir, "relevo-agent-update.service"), updateServiceUnit(spec, "1.2.3"));
    writeFileSync(join(dir, "relevo-agent-update.path"), updatePathUnit(spec, "1.2.3"));
    const result = Bun.spawnSync(
      [
        verify as string,
        "verify",
        "--man=no",
        ...["relevo-agent-update.service", "relevo-agent-update.path"].map((f) => join(dir, f)),
      ],
      { stderr: "pipe", stdout: "pipe" },
    );
    const complaints = `${result.stderr}${result.stdout}`
      .split("\n")
      .filter((line) => line.trim() && !/is not executable: No such file|relevo-agent\.service/.test(line));
    expect(complaints).toEqual([]);
  });
});
