// Framing for the persistent `powershell -Command -` session. PowerShell reads stdin line by line and
// needs a blank line after a multi-line statement (PowerShell/PowerShell#3223): an unframed multi-line
// script swallows itself and every command queued behind it. So every command goes out as ONE line of
// ASCII: the script base64-encoded, decoded and invoked inside PowerShell. The answer comes back as ONE
// line too: a unique marker, a status, and the output and error text base64-encoded, so nothing the script
// prints (a line that looks like a marker, a BOM, an encoding PowerShell 5.1 picked) can break the frame.

/** One line for stdin: runs `script` in a child scope and prints `<marker> ok|fail <out64> <err64> end`. */
export function frameCommand(script: string, marker: string): string {
  const payload = Buffer.from(script, "utf8").toString("base64");
  return [
    "& {",
    `$m = '${marker}'; $ProgressPreference = 'SilentlyContinue'; $s = 'ok'; $o = ''; $e = ''`,
    "try {",
    `$r = @(& ([scriptblock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${payload}')))) 2>&1)`,
    '$o = ($r | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] } | ForEach-Object { if ($_ -is [string]) { $_ } else { ($_ | Out-String).TrimEnd() } }) -join "`n"',
    '$e = ($r | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object { $_.ToString() }) -join "`n"',
    "} catch { $s = 'fail'; $e = $_.ToString() }",
    "$b = { param($t) [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes([string]$t)) }",
    '[Console]::Out.WriteLine("`n$m $s $(& $b $o) $(& $b $e) end"); [Console]::Out.Flush()',
    "}",
  ].join("; ");
}

interface FramedReply {
  ok: boolean;
  out: string;
  err: string;
}

const B64 = "[A-Za-z0-9+/=]*";

/** Finds the reply for `marker` in one line of stdout (pwsh may prefix terminal escapes), if it is there. */
export function parseReplyLine(line: string, marker: string): FramedReply | undefined {
  const at = line.indexOf(`${marker} `);
  if (at < 0) return undefined;
  const match = new RegExp(`^(ok|fail) (${B64}) (${B64}) end`).exec(line.slice(at + marker.length + 1));
  if (!match) return undefined;
  const decode = (text: string | undefined) => Buffer.from(text ?? "", "base64").toString("utf8");
  return { ok: match[1] === "ok", out: decode(match[2]), err: decode(match[3]) };
}
