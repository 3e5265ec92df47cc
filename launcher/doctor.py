"""`bottle doctor`: how the bottle is isolated, which runtimes inside it trust its CA, and
what the others need.

Isolation (every bottle): the checks of `launcher/isolation.py`, read from inside the agent
and egress containers. Trust (bottles started with --inspect): a probe makes one HTTPS
request through the egress proxy with the runtime's own client and its default settings
(plus the environment the launcher gave the agent). The proxy completes
the client's TLS handshake before it contacts any origin (lazy upstream connections), so the
result says only whether the client trusts the bottle CA: any HTTP answer, even a 502, means
it does; a certificate verification error means it does not. Nothing else is judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from launcher.bottle import AGENT_CERT, EGRESS_UID, find_container
from launcher.errors import LauncherError
from launcher.isolation import Check, agent_checks, limits_check, read_inside
from launcher.limits import limits_of

# POSIX sh, run inside the agent container (its user, its environment). Prints one line per
# runtime found: NAME<TAB>trusts|fails|inconclusive<TAB>detail.
PROBE_SCRIPT = r"""
url="$1"
hostport=${url#https://}; hostport=${hostport%%/*}
host=${hostport%%:*}; port=443; [ "$host" != "$hostport" ] && port=${hostport#*:}
proxy=${HTTPS_PROXY:-$https_proxy}; proxyhp=${proxy#http://}; proxyhp=${proxyhp%%/*}
line() { printf '%s\t%s\t%s\n' "$1" "$2" "$(printf '%s' "$3" | tr '\n\t' '  ' | cut -c1-240)"; }
tls_verdict() {  # $1 name, $2 exit code, $3 output: classify a client's result
  case "$3" in
    *"certificate verify failed"*|*"CERTIFICATE_VERIFY_FAILED"*|*"SSL certificate problem"*|\
    *"unable to get local issuer"*|*"self-signed certificate"*|*"self signed certificate"*|\
    *"SSLCertVerificationError"*|*"server certificate verification failed"*|*"SSLError"*)
      line "$1" fails "$3" ;;
    *) if [ "$2" = 0 ] || [ "$2" = http ]; then line "$1" trusts "$3"; else line "$1" inconclusive "$3"; fi ;;
  esac
}
if command -v curl >/dev/null 2>&1; then
  out=$(curl -sS -o /dev/null -w 'HTTP %{http_code}' --max-time 15 "$url" 2>&1); rc=$?
  tls_verdict curl "$rc" "$out"
fi
if command -v openssl >/dev/null 2>&1 && [ -n "$proxyhp" ]; then
  out=$(echo | openssl s_client -proxy "$proxyhp" -connect "$host:$port" -servername "$host" \
        -verify_return_error -brief 2>&1); rc=$?
  case "$out" in *"Verification: OK"*|*"Verify return code: 0"*) line openssl trusts "verification OK" ;;
    *) tls_verdict openssl "$rc" "$out" ;; esac
fi
py=""
for c in python3 python; do command -v "$c" >/dev/null 2>&1 && { py=$c; break; }; done
if [ -n "$py" ]; then
  "$py" - "$url" <<'EOF'
import sys
url = sys.argv[1]

def report(name, fn):
    try:
        detail = fn()
    except ImportError:
        return
    except Exception as e:  # classify by the text, as the shell does
        text = f"{type(e).__name__}: {e}"
        bad = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "SSLCertVerificationError")
        status = "fails" if any(b in text for b in bad) else "inconclusive"
        print(f"{name}\t{status}\t{text[:240]}")
        return
    print(f"{name}\ttrusts\t{detail}")

def urllib_probe():
    import urllib.error, urllib.request
    try:
        return f"HTTP {urllib.request.urlopen(url, timeout=15).status}"
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"

def requests_probe():
    import requests
    return f"HTTP {requests.get(url, timeout=15).status_code}"

def httpx_probe():
    import httpx
    return f"HTTP {httpx.get(url, timeout=15).status_code}"

report("python-urllib", urllib_probe)
report("python-requests", requests_probe)
report("python-httpx", httpx_probe)
EOF
  if "$py" -m pip --version >/dev/null 2>&1; then
    out=$("$py" -m pip download --no-deps --no-cache-dir -d /tmp/.bottle-doctor \
          --index-url "$url" --retries 0 --timeout 15 bottle-doctor-probe 2>&1); rc=$?
    tls_verdict pip "$rc" "$out"
  fi
fi
if command -v git >/dev/null 2>&1; then
  out=$(GIT_TERMINAL_PROMPT=0 git ls-remote "$url" 2>&1); rc=$?
  case "$out" in *"SSL certificate problem"*|*"server certificate verification failed"*)
      line git fails "$out" ;;
    *"The requested URL returned error"*|*"not found"*|*"HTTP"*) line git trusts "$out" ;;
    *) tls_verdict git "$rc" "$out" ;; esac
fi
if command -v node >/dev/null 2>&1 && [ -n "$proxyhp" ]; then
  out=$(node -e '
const http = require("http"), tls = require("tls");
const [ph, pp] = process.argv[1].split(":"); const [h, p] = process.argv[2].split(":");
const req = http.request({host: ph, port: pp, method: "CONNECT", path: `${h}:${p}`});
req.on("connect", (res, sock) => {
  if (res.statusCode !== 200) { console.log(`CONNECT ${res.statusCode}`); process.exit(3); }
  const s = tls.connect({socket: sock, servername: h}, () => { console.log("TLS verified"); s.destroy(); });
  s.on("error", e => { console.log(`certificate verify failed: ${e.code}`); process.exit(2); });
});
req.on("error", e => { console.log(e.message); process.exit(3); });
req.end();' "$proxyhp" "$host:$port" 2>&1); rc=$?
  tls_verdict node "$rc" "$out"
  line node-fetch note "Node's built-in fetch ignores HTTPS_PROXY unless NODE_USE_ENV_PROXY=1 (Node >= 24)"
fi
if command -v java >/dev/null 2>&1; then
  if printf '%s' "${JAVA_TOOL_OPTIONS:-}" | grep -q trustStore; then
    line java trusts "JAVA_TOOL_OPTIONS names a trust store"
  else
    line java fails "the JRE keystore lacks the bottle CA"
  fi
fi
if command -v go >/dev/null 2>&1; then
  line go trusts "crypto/x509 reads SSL_CERT_FILE on Linux (not probed)"
fi
"""

FIXES = {
    "curl": "set CURL_CA_BUNDLE or SSL_CERT_FILE to /etc/bottle-ca/ca-bundle.pem",
    "openssl": "set SSL_CERT_FILE to /etc/bottle-ca/ca-bundle.pem",
    "python-urllib": "set SSL_CERT_FILE to /etc/bottle-ca/ca-bundle.pem",
    "python-requests": "set REQUESTS_CA_BUNDLE to /etc/bottle-ca/ca-bundle.pem",
    "python-httpx": "set SSL_CERT_FILE to /etc/bottle-ca/ca-bundle.pem",
    "pip": "set PIP_CERT to /etc/bottle-ca/ca-bundle.pem",
    "git": "set GIT_SSL_CAINFO to /etc/bottle-ca/ca-bundle.pem",
    "node": f"set NODE_EXTRA_CA_CERTS to {AGENT_CERT}",
    "java": ("import it: keytool -importcert -cacerts -storepass changeit -noprompt -alias "
             f"bottle-ca -file {AGENT_CERT} (or JAVA_TOOL_OPTIONS=-Djavax.net.ssl.trustStore=...)"),
    "go": "set SSL_CERT_FILE to /etc/bottle-ca/ca-bundle.pem",
}


@dataclass
class ProbeResult:
    runtime: str
    status: str  # trusts | fails | inconclusive | note
    detail: str
    fix: str = ""


def parse_probe_output(text: str) -> list[ProbeResult]:
    results = []
    for raw in text.splitlines():
        parts = raw.split("\t", 2)
        if len(parts) != 3:
            continue
        name, status, detail = parts
        fix = FIXES.get(name, "") if status == "fails" else ""
        results.append(ProbeResult(name, status, detail.strip(), fix))
    return results


def default_probe_url(agent: Any) -> str:
    host = agent.labels.get("io.bottle-egress.probe-host") or "api.github.com"
    return f"https://{host}/"


@dataclass
class DoctorReport:
    isolation: list[Check]
    trust: list[ProbeResult] = field(default_factory=list)
    note: str = ""  # why there are no trust probes

    def failed(self) -> bool:
        return any(c.status == "fails" for c in self.isolation) or any(
            r.status == "fails" for r in self.trust)

    def as_json(self) -> dict[str, Any]:
        return {"isolation": [c.__dict__ for c in self.isolation],
                "trust": [r.__dict__ for r in self.trust], "note": self.note}


def isolation_checks(client: Any, name: str, agent: Any, inspect: bool) -> list[Check]:
    inside = read_inside(agent)
    if inside is None:
        checks = [Check("isolation", "inconclusive",
                        f"cannot run sh in {agent.name}: the checks need a POSIX shell")]
    else:
        checks = agent_checks(inside, limits_of(agent.attrs.get("HostConfig") or {}))
    if not inspect:
        checks.append(Check("egress limits", "note", "no egress container (started without "
                            "--inspect)"))
        return checks
    egress = find_container(client, name, "egress")
    seen = read_inside(egress, user=EGRESS_UID) if egress.status == "running" else None
    if seen is None:
        checks.append(Check("egress limits", "fails", f"the egress container {egress.name} is "
                            f"not running ({egress.status})"))
    else:
        checks.append(limits_check("egress limits", seen,
                                   limits_of(egress.attrs.get("HostConfig") or {})))
    return checks


def run_doctor(client: Any, name: str, url: str | None = None) -> DoctorReport:
    agent = find_container(client, name, "agent")
    if agent.status != "running":
        raise LauncherError(f"the agent container of {name} is not running ({agent.status})",
                            f"bottle stop {name} && bottle start ... --name {name}")
    if url is not None and not url.startswith("https://"):
        raise LauncherError(f"--url {url}: give an https:// URL", exit_code=2)
    inspect = agent.labels.get("io.bottle-egress.inspect") == "1"
    report = DoctorReport(isolation_checks(client, name, agent, inspect))
    if not inspect:
        report.note = (f"no trust probes: bottle {name} was started without --inspect, so it "
                       "has no bottle CA to trust")
        return report
    report.trust = probe_trust(agent, url or default_probe_url(agent))
    return report


def probe_trust(agent: Any, target: str) -> list[ProbeResult]:
    res = agent.exec_run(["sh", "-c", PROBE_SCRIPT, "bottle-doctor", target], demux=True)
    out, err = res.output
    results = parse_probe_output((out or b"").decode(errors="replace"))
    if not results:
        detail = (err or b"").decode(errors="replace").strip()
        raise LauncherError(f"the probes found no runtime to test in {agent.name}"
                            + (f": {detail}" if detail else ""))
    return results


def format_report(report: DoctorReport) -> str:
    rows = [(c.name, c.status, c.detail, "") for c in report.isolation]
    rows += [(r.runtime, r.status, r.detail, r.fix) for r in report.trust]
    width = max(len(r[0]) for r in rows)
    lines = ["isolation"]
    for i, (name, status, detail, fix) in enumerate(rows):
        if i == len(report.isolation):
            lines.append("trust in the bottle CA")
        lines.append(f"  {name.ljust(width)}  {status:12}  {detail}")
        if fix:
            lines.append(f"  {'':{width}}  {'':12}  fix: {fix}")
    if report.note:
        lines.append(report.note)
    return "\n".join(lines)
