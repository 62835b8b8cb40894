<#
.SYNOPSIS
  Group-policy logon script: build the CA bundle for the user and point pip at it.

.DESCRIPTION
  Runs at every logon. Silent, idempotent and nearly free when nothing changed (the tool
  decides from its manifest without reading a certificate). Logs one line per run to
  %LOCALAPPDATA%\build-ca-bundle\logon.log, and keeps the log small.

  Deploy: GPO > User Configuration > Policies > Windows Settings > Scripts > Logon >
  PowerShell Scripts, with this file. Requires build-ca-bundle on PATH (or set $Tool).

  Exit codes are the tool's (see the README); 8 means the corporate root is not on this
  machine yet, and nothing was changed.
#>
param(
    [string]$Tool = "build-ca-bundle",
    # The corporate root IT requires, so pip is never pointed at a bundle without it.
    [string]$Require = ""
)

$ErrorActionPreference = "Stop"
$logDir = Join-Path $env:LOCALAPPDATA "build-ca-bundle"
New-Item -ItemType Directory -Force -Path $logDir | Out-Null
$log = Join-Path $logDir "logon.log"

# Keep the log from growing without bound: the last 500 lines are plenty.
if ((Test-Path $log) -and ((Get-Item $log).Length -gt 256KB)) {
    Get-Content $log -Tail 500 | Set-Content -Encoding ascii $log
}

$arguments = @("--quiet", "--no-verify")
if ($Require) { $arguments += @("--require", $Require) }

$stamp = Get-Date -Format "yyyy-MM-ddTHH:mm:ssK"
try {
    $output = & $Tool @arguments 2>&1 | Out-String
    $code = $LASTEXITCODE
} catch {
    $output = $_.Exception.Message
    $code = 1
}
$line = "$stamp exit=$code $($output.Trim() -replace '\s+', ' ')"
Add-Content -Encoding ascii -Path $log -Value $line
exit $code
