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

# Keep the log from growing without bound: the last 500 lines are plenty. Read whole
# before it is written again (piped, Set-Content would open the file Get-Content still reads).
if ((Test-Path $log) -and ((Get-Item $log).Length -gt 256KB)) {
    $kept = @(Get-Content $log -Tail 500)
    Set-Content -Encoding ascii -Path $log -Value $kept
}

$arguments = @("--quiet", "--no-verify")
if ($Require) { $arguments += @("--require", $Require) }

$stamp = Get-Date -Format "yyyy-MM-ddTHH:mm:ssK"
if (-not (Get-Command $Tool -ErrorAction SilentlyContinue)) {
    $output = "$Tool not found: install it, or give its path with -Tool"
    $code = 127
} else {
    # The tool's errors go to stderr. Under "Stop", Windows PowerShell 5.1 (which runs
    # logon scripts) turns a native program's first stderr line into a terminating error,
    # and the tool's own exit code (8, 13, ...) was lost: only our cmdlets stop on error.
    $ErrorActionPreference = "Continue"
    $output = & $Tool @arguments 2>&1 | ForEach-Object { "$_" } | Out-String
    $code = $LASTEXITCODE
    $ErrorActionPreference = "Stop"
}
$line = "$stamp exit=$code $($output.Trim() -replace '\s+', ' ')"
Add-Content -Encoding ascii -Path $log -Value $line
exit $code
