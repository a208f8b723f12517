// Windows software, services and domain on recorded output (test/fixtures/windows/*.txt, made by running the
// commands under pwsh against cim/server-2022.json): what each source lists, the duplicates and hidden
// entries it leaves out, per-user installs named by their user, and the sources that failed named in errors.
import { describe, expect, test } from "bun:test";
import type { Context } from "../../../src/agent/collect/_context.ts";
import { PartialSectionError } from "../../../src/agent/collect/_partial.ts";
import { parseWindowsDomain } from "../../../src/agent/collect/domain.ts";
import { parseWindowsServices } from "../../../src/agent/collect/services.ts";
import { parseWindowsSoftware, softwareWindows } from "../../../src/agent/collect/software-windows.ts";
import { windowsOutput } from "./_fixtures.ts";

const ctxWith = (out: string) => ({ powerShell: async () => out }) as unknown as Context;

describe("parseWindowsSoftware", () => {
  const { items, warnings } = parseWindowsSoftware(windowsOutput("software"));
  const named = (name: string) => items.filter((item) => item.name === name);

  test("lists each source once, with its source and the user of per-user installs", () => {
    expect(warnings).toEqual([]);
    expect(items.map((item) => [item.source, item.name, item.user ?? null])).toEqual([
      ["registry", "7-Zip 23.01 (x64)", null],
      ["registry", "Microsoft SQL Server 2019 (64-Bit)", null],
      ["registry", "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33130", null],
      ["registry", "Canon Druckertreiber für Büro-Multifunktionsgeräte", null],
      ["registry-wow64", "Microsoft Edge", null],
      ["registry-wow64", "Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.38.33130", null],
      ["registry-user", "Zoom Workplace", "alice"],
      ["registry-user", "秀丸エディタ", "alice"],
      ["registry-user", "Microsoft Visual Studio Code (User)", "bob"],
      ["appx", "Microsoft.WindowsTerminal", "CORP\\alice"],
      ["appx", "Microsoft.DesktopAppInstaller", null],
      ["hotfix", "KB5044281", null],
      ["hotfix", "KB5043936", null],
    ]);
  });

  test("a product in both registry views is one 64-bit entry; x86 and x64 redistributables stay two", () => {
    expect(named("7-Zip 23.01 (x64)")).toEqual([
      {
        name: "7-Zip 23.01 (x64)",
        version: "23.01",
        vendor: "Igor Pavlov",
        arch: "x64",
        install_date: null,
        size_bytes: 5832 * 1024,
        source: "registry",
      },
    ]);
    expect(
      items.filter((item) => item.name.startsWith("Microsoft Visual C++")).map((item) => item.arch),
    ).toEqual(["x64", "x86"]);
  });

  test("leaves out hidden components, updates of another entry and keys without a name", () => {
    expect(named("Microsoft .NET Host - 8.0.1 (x64)")).toEqual([]);
    expect(items.some((item) => item.name.includes("KB5034439"))).toBe(false);
  });

  test("install dates, Appx publishers and architectures, hotfix dates", () => {
    expect(named("Microsoft SQL Server 2019 (64-Bit)")[0]?.install_date).toBe("2025-03-14T00:00:00.000Z");
    expect(named("Microsoft.WindowsTerminal")[0]).toMatchObject({
      vendor: "Microsoft Corporation",
      arch: "x64",
      version: "1.21.3231.0",
    });
    expect(named("Microsoft.DesktopAppInstaller")[0]?.arch).toBe("neutral");
    expect(named("KB5044281")[0]).toMatchObject({
      install_date: "2026-10-09T00:00:00.000Z",
      description: "Security Update",
      vendor: "Microsoft Corporation",
    });
  });

  test("a hive that could not be loaded and a refused Appx query are named; the rest is still sent", async () => {
    const error = await softwareWindows(ctxWith(windowsOutput("software-denied"))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PartialSectionError);
    const partial = error as PartialSectionError<{ items: unknown[]; hash: string }>;
    expect(partial.message).toContain("the hive of C:\\Users\\bob was not loaded");
    expect(partial.message).toContain("Appx packages: Zugriff verweigert");
    // Four machine-wide 64-bit entries, two 32-bit ones, two hotfixes.
    expect(partial.section.items).toHaveLength(8);
    expect(partial.section.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test("the hash does not depend on the order the sources answered in", async () => {
    const a = await softwareWindows(ctxWith(windowsOutput("software")));
    const parsed = JSON.parse(windowsOutput("software"));
    parsed.r.reverse();
    parsed.h.reverse();
    const b = await softwareWindows(ctxWith(JSON.stringify(parsed)));
    expect(b.hash).toBe(a.hash);
    expect(b.items).toEqual(a.items as NonNullable<typeof b.items>);
  });
});

test("parseWindowsServices: state and start mode in lower case, the account, no pid for a stopped one", () => {
  const services = parseWindowsServices(windowsOutput("services"));
  expect(services).toHaveLength(4);
  expect(services[1]).toEqual({
    name: "Spooler",
    display_name: "Druckwarteschlange",
    state: "stopped",
    start_mode: "disabled",
    account: "LocalSystem",
    pid: null,
    path: "C:\\Windows\\System32\\spoolsv.exe",
  });
  expect(services[0]).toMatchObject({ name: "EventLog", state: "running", start_mode: "auto", pid: 1344 });
});

describe("parseWindowsDomain", () => {
  test("AD and Entra ID at once: hybrid, with the forest, the DC that answered and the tenant", () => {
    expect(parseWindowsDomain(windowsOutput("domain-hybrid"))).toEqual({
      is_domain_joined: true,
      domain_name: "corp.example.com",
      workgroup: "",
      domain_controller: "DC02",
      kind: "hybrid",
      forest: "example.com",
      tenant_name: "Contoso Ltd",
    });
  });

  test("a workgroup machine is not joined and names its workgroup", () => {
    expect(parseWindowsDomain(windowsOutput("domain-workgroup"))).toEqual({
      is_domain_joined: false,
      domain_name: "",
      workgroup: "WORKGROUP",
      domain_controller: "",
      kind: "workgroup",
    });
  });

  test("Entra ID only: joined, the tenant as the domain", () => {
    expect(parseWindowsDomain(windowsOutput("domain-aad"))).toMatchObject({
      is_domain_joined: true,
      domain_name: "Fabrikam",
      kind: "aad",
      workgroup: "WORKGROUP",
    });
  });
});
