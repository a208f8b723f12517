// Domain membership. Linux: what realmd/adcli leave configured for SSSD or winbind (sssd.conf, smb.conf),
// with the machine's keytab or winbind's secrets as proof of a join, and the Kerberos default realm; never a
// guess from resolv.conf. Windows: Win32_ComputerSystem (AD join, domain or workgroup), Win32_NTDomain (the
// DC that answers, the forest) and `dsregcmd /status` (Entra ID join).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Domain } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readFailure } from "./_files.ts";
import { clip } from "./_limits.ts";
import { asRecord, parsePowerShellJson, str } from "./_powershell.ts";

/** An INI file as sections of lower-cased keys ([global], [domain/corp.example.com]). */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current = new Map<string, string>();
  sections.set("", current);
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      current = sections.get(header[1].trim().toLowerCase()) ?? new Map();
      sections.set(header[1].trim().toLowerCase(), current);
      continue;
    }
    const eq = line.indexOf("=");
    if (eq > 0) current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return sections;
}

const NOT_JOINED: Domain = {
  is_domain_joined: false,
  domain_name: "",
  workgroup: "",
  domain_controller: "",
  kind: "none",
};

const first = (list: string | undefined) => (list ?? "").split(",")[0]?.trim() ?? "";

export interface LinuxDomainSources {
  sssd?: string;
  smb?: string;
  krb5?: string;
  keytab: boolean;
  winbindSecrets: boolean;
}

export function linuxDomain(sources: LinuxDomainSources): Domain {
  const realm = /^\s*default_realm\s*=\s*(\S+)/m.exec(sources.krb5 ?? "")?.[1] ?? "";
  if (sources.sssd) {
    const ini = parseIni(sources.sssd);
    const name = first(ini.get("sssd")?.get("domains"));
    const domain = ini.get(`domain/${name.toLowerCase()}`);
    const provider = domain?.get("id_provider") ?? "";
    if (name && (provider === "ad" || provider === "ipa") && sources.keytab) {
      return {
        is_domain_joined: true,
        domain_name: clip(domain?.get("ad_domain") ?? domain?.get("ipa_domain") ?? name),
        workgroup: "",
        domain_controller: clip(
          first(domain?.get("ad_server") ?? domain?.get("ipa_server")).replace(/^_srv_$/, ""),
        ),
        kind: "sssd",
        realm: clip(domain?.get("krb5_realm") ?? realm ?? name.toUpperCase()),
      };
    }
  }
  if (sources.smb) {
    const global = parseIni(sources.smb).get("global");
    if (global?.get("security")?.toLowerCase() === "ads" && sources.winbindSecrets) {
      const smbRealm = global.get("realm") ?? realm;
      return {
        is_domain_joined: true,
        domain_name: clip(smbRealm.toLowerCase()),
        workgroup: clip(global.get("workgroup") ?? ""),
        domain_controller: clip(first(global.get("password server")).replace(/^\*$/, "")),
        kind: "winbind",
        realm: clip(smbRealm.toUpperCase()),
      };
    }
  }
  // A Kerberos realm and a host keytab without SSSD or winbind: joined with adcli or ktutil, for Kerberos only.
  if (realm && sources.keytab) {
    return {
      ...NOT_JOINED,
      is_domain_joined: true,
      domain_name: clip(realm.toLowerCase()),
      kind: "kerberos",
      realm: clip(realm),
    };
  }
  return { ...NOT_JOINED, ...(realm && { realm: clip(realm) }) };
}

export async function domainLinux(ctx: Context): Promise<Domain> {
  const read = (parts: string[]) => {
    try {
      return readFileSync(join(ctx.root, ...parts), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") ctx.partial(readFailure(parts, error));
      return undefined;
    }
  };
  return linuxDomain({
    sssd: read(["etc", "sssd", "sssd.conf"]),
    smb: read(["etc", "samba", "smb.conf"]),
    krb5: read(["etc", "krb5.conf"]),
    keytab: existsSync(join(ctx.root, "etc", "krb5.keytab")),
    winbindSecrets: existsSync(join(ctx.root, "var", "lib", "samba", "private", "secrets.tdb")),
  });
}

// ---- Windows ----

/**
 * Prints {cs, nt, ds}: the computer system, the primary domain's Win32_NTDomain entry (its DC and forest; a
 * query of the DC locator, answered from its cache) and dsregcmd's output as text (or its error).
 */
export const WINDOWS_DOMAIN_COMMAND =
  "$cs = Get-CimInstance Win32_ComputerSystem -Property Domain,PartOfDomain,Workgroup,DomainRole | Select-Object Domain,PartOfDomain,Workgroup,DomainRole; " +
  "$nt = $null; if ($cs.PartOfDomain) { try { $nt = @(Get-CimInstance Win32_NTDomain | Where-Object { $_.DnsForestName -and $_.DomainControllerName } | Select-Object DomainName,DnsForestName,DomainControllerName,DomainControllerAddress)[0] } catch { } }; " +
  "$ds = try { (& dsregcmd /status 2>&1 | Out-String) } catch { '' }; " +
  "ConvertTo-Json -Compress -Depth 3 -InputObject ([pscustomobject]@{ cs = $cs; nt = $nt; ds = $ds })";

/** `dsregcmd /status`'s `Name : VALUE` lines (its names are English in every display language). */
export function parseDsregcmd(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$/.exec(line);
    if (match?.[1] && !values.has(match[1])) values.set(match[1], match[2] ?? "");
  }
  return values;
}

export function parseWindowsDomain(text: string): Domain {
  const root = asRecord(parsePowerShellJson(text));
  const cs = asRecord(root.cs);
  const nt = typeof root.nt === "object" && root.nt !== null ? (root.nt as Record<string, unknown>) : {};
  const ds = parseDsregcmd(str(root.ds));
  const ad = cs.PartOfDomain === true;
  const aad = ds.get("AzureAdJoined") === "YES";
  const tenant = ds.get("TenantName") ?? "";
  const kind = ad && aad ? "hybrid" : ad ? "ad" : aad ? "aad" : "workgroup";
  return {
    is_domain_joined: ad || aad,
    domain_name: clip(ad ? str(cs.Domain) : aad ? tenant : ""),
    workgroup: clip(ad ? "" : str(cs.Workgroup) || str(cs.Domain)),
    domain_controller: clip(str(nt.DomainControllerName).replace(/^\\\\/, "")),
    kind,
    ...(str(nt.DnsForestName) && { forest: clip(str(nt.DnsForestName)) }),
    ...(tenant && { tenant_name: clip(tenant) }),
  };
}

export async function domainWindows(ctx: Context): Promise<Domain> {
  return parseWindowsDomain(await ctx.powerShell(WINDOWS_DOMAIN_COMMAND));
}
