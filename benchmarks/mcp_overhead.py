"""MCP inspection overhead, against plain mitmproxy streaming in the same run. Prints JSON.

- `sse`: a TLS origin on loopback answers a `tools/call` POST with an SSE stream: progress
  notifications every few milliseconds, then the result (~2 KB of text). Each event carries
  the origin's send time; the client records arrival times. The same stream is fetched through
  (a) a plain mitmproxy Master (proxy server, TLS, streaming on, no addon of ours) and (b)
  `bottle egress run` with the whole chain, alternating runs. Reported: per-event latency
  (arrival - send) and time to first event, p50/p95, and the difference.
- `tools_list`: inspecting a 100-tool `tools/list` response (poisoning scan of every
  model-visible string, pinning): first listing (cold) and a repeat listing (cached scans).
- `clean_scan` (alone with `--scan-only`): process CPU of the whole injection scan on 300 clean
  tool results of the evaluation splits (per 10 KB) and on 100 KB of standard-library source
  and docstrings.
- `event_inspection`: in-process cost of inspecting one SSE event (framing, JSON-RPC parse,
  pairing, injection scan), p50/p95.

    python -m benchmarks.mcp_overhead [--events 150] [--runs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.proxy_overhead import serve_plain, start_plain, wait_port  # noqa: E402

RESULT_TEXT = ("The build finished. " * 100)[:2000]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


# -- the origin -------------------------------------------------------------------------------

class SseOrigin:
    """Answers any POST with `events` SSE events, `interval` seconds apart."""

    def __init__(self, cert: Path, key: Path, events: int, interval: float) -> None:
        self.events, self.interval = events, interval
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, raw: socket.socket) -> None:
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(65536)
            head, _, body = buf.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            req_id = json.loads(body)["id"]
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
            for i in range(self.events):
                if i == self.events - 1:
                    doc: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "result": {
                        "content": [{"type": "text", "text": RESULT_TEXT}], "sent": time.time()}}
                else:
                    doc = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {
                        "progressToken": 1, "progress": i, "total": self.events,
                        "message": f"step {i}: compiling module {i} of the project", "sent": time.time()}}
                event = b"data: " + json.dumps(doc).encode() + b"\n\n"
                conn.sendall(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                time.sleep(self.interval)
            conn.sendall(b"0\r\n\r\n")
            conn.close()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        self._stop = True
        self.sock.close()


# -- the proxies ------------------------------------------------------------------------------

class StreamEventStreams:
    """The baseline's streaming: event streams pass through as they arrive."""

    def responseheaders(self, flow: Any) -> None:
        if flow.response is not None and "text/event-stream" in flow.response.headers.get(
                "content-type", ""):
            flow.response.stream = True


class Proxy:
    def __init__(self, cmd: list[str], env: dict[str, str], plain_ca: Any = None) -> None:
        if plain_ca is not None:
            self.proc = start_plain(cmd, plain_ca, env, cwd=REPO)
            return
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env, cwd=REPO)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_baseline(workdir: Path, origin_ca: Path) -> tuple[Proxy, str, str]:
    """Plain mitmproxy with the same core addons, options and CA key type as the bottle
    (`benchmarks.proxy_overhead.serve_plain`), plus streaming; none of our addons."""
    from ca import BottleCA
    from ca.bundle import merged_bundle

    trust = workdir / "trust.pem"
    trust.write_bytes(merged_bundle(origin_ca.read_bytes()))
    plain_ca = BottleCA.create(workdir / "plain", "plain-mitmproxy")
    p = Proxy([sys.executable, "-m", "benchmarks.mcp_overhead", "--serve-plain",
               str(workdir / "plain"), str(trust)], dict(os.environ, PYTHONPATH=str(REPO)), plain_ca)
    return p, f"http://127.0.0.1:{wait_port(p.proc)}", str(plain_ca.files.cert)


def start_egress(workdir: Path, origin_ca: Path) -> tuple[Proxy, str, str]:
    policy = workdir / "policy.yaml"
    policy.write_text("version: 1\nhosts:\n  allow:\n    - hosts: [localhost]\n      ports: ['*']\n"
                      "  allow_private: [127.0.0.1]\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = Proxy([sys.executable, "-m", "cli.main", "egress", "run", "--listen", "127.0.0.1:0",
               "--policy", str(policy), "--state-dir", str(workdir / "egress"),
               "--upstream-ca", str(origin_ca), "--audit-log", str(workdir / "audit.jsonl")], env)
    assert p.proc.stdout is not None
    found: dict[str, str] = {}
    for line in p.proc.stdout:
        if line.startswith("export "):
            k, _, v = line[len("export "):].strip().partition("=")
            found[k] = v.strip("'\"")
            if k == "BOTTLE_ID":
                break
    return p, found["HTTPS_PROXY"], found["SSL_CERT_FILE"]


def fetch_stream(client: httpx.Client, port: int) -> tuple[float, list[float]]:
    """(time from the request to the first event, per-event latencies) of one streamed
    tools/call on a kept-alive client, in seconds."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "build", "arguments": {"target": "all"}}}
    latencies: list[float] = []
    first = float("nan")
    started = time.time()
    with client.stream("POST", f"https://localhost:{port}/mcp", json=body,
                       headers={"accept": "application/json, text/event-stream"}) as resp:
        buf = b""
        for chunk in resp.iter_raw():
            now = time.time()
            buf += chunk
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                doc = json.loads(event.partition(b"data: ")[2])
                sent = (doc.get("params") or doc.get("result") or {}).get("sent")
                if sent is None:
                    continue
                if not latencies:
                    first = now - started
                latencies.append(now - sent)
    return first, latencies


def bench_sse(events: int, runs: int, interval: float, first_runs: int) -> dict[str, Any]:
    from tests.support.pki import TestPKI

    workdir = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    pki = TestPKI(workdir / "pki")
    cert = pki.server_cert("origin", ["localhost", "127.0.0.1"])
    long = SseOrigin(cert.cert_path, cert.key_path, events, interval)
    short = SseOrigin(cert.cert_path, cert.key_path, 2, interval)
    base, base_url, base_ca = start_baseline(workdir, pki.ca_path)
    ours, ours_url, ours_ca = start_egress(workdir, pki.ca_path)
    data: dict[str, dict[str, list[float]]] = {"baseline": {"ttfe": [], "lat": []},
                                               "egress": {"ttfe": [], "lat": []}}
    clients = {"baseline": httpx.Client(proxy=base_url, verify=base_ca, timeout=60, trust_env=False),
               "egress": httpx.Client(proxy=ours_url, verify=ours_ca, timeout=60, trust_env=False)}
    try:
        for client in clients.values():  # warm-up: tunnels, TLS, certificate generation
            fetch_stream(client, long.port)
            fetch_stream(client, short.port)
        for _ in range(runs):
            for name, client in clients.items():
                _, lat = fetch_stream(client, long.port)
                assert len(lat) == events, f"{name}: {len(lat)} of {events} events arrived"
                data[name]["lat"].extend(lat)
        for _ in range(first_runs):
            for name, client in clients.items():
                ttfe, _ = fetch_stream(client, short.port)
                data[name]["ttfe"].append(ttfe)
    finally:
        for client in clients.values():
            client.close()
        base.stop()
        ours.stop()
        long.close()
        short.close()
        shutil.rmtree(workdir, ignore_errors=True)

    def ms(v: float) -> float:
        return round(v * 1000, 3)

    out: dict[str, Any] = {"events_per_stream": events, "streams_per_proxy": runs,
                           "event_interval_ms": interval * 1000, "first_event_requests": first_runs}
    for name in ("baseline", "egress"):
        out[name] = {"event_latency_p50_ms": ms(pct(data[name]["lat"], 0.5)),
                     "event_latency_p95_ms": ms(pct(data[name]["lat"], 0.95)),
                     "time_to_first_event_p50_ms": ms(pct(data[name]["ttfe"], 0.5)),
                     "time_to_first_event_p95_ms": ms(pct(data[name]["ttfe"], 0.95))}
    for key, field in (("added_per_event_p50_ms", "event_latency_p50_ms"),
                       ("added_per_event_p95_ms", "event_latency_p95_ms"),
                       ("added_time_to_first_event_p50_ms", "time_to_first_event_p50_ms"),
                       ("added_time_to_first_event_p95_ms", "time_to_first_event_p95_ms")):
        out[key] = round(out["egress"][field] - out["baseline"][field], 3)
    return out


# -- in-process costs -------------------------------------------------------------------------

def tools_fixture(n: int = 100) -> list[dict[str, Any]]:
    verbs = ["Create", "List", "Get", "Update", "Delete", "Search", "Summarise", "Export"]
    things = ["issues", "pull requests", "files", "branches", "comments", "releases", "workflows",
              "labels", "milestones", "projects"]
    tools = []
    for i in range(n):
        verb, thing = verbs[i % len(verbs)], things[i % len(things)]
        tools.append({
            "name": f"{verb.lower()}_{thing.replace(' ', '_')}_{i}",
            "title": f"{verb} {thing}",
            "description": (f"{verb} {thing} in a repository. Use this when the user asks about "
                            f"{thing}; prefer narrow filters to keep results small. Results are paginated "
                            "(per_page up to 100). You must pass the owner and the repository name. "
                            "Returns JSON with the items and a cursor for the next page."),
            "inputSchema": {"type": "object", "required": ["owner", "repo"], "properties": {
                "owner": {"type": "string", "description": "Repository owner (user or organisation)."},
                "repo": {"type": "string", "description": "Repository name."},
                "state": {"type": "string", "enum": ["open", "closed", "all"], "default": "open"},
                "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
                "cursor": {"type": "string", "description": "Cursor from a previous page."}}},
            "annotations": {"readOnlyHint": verb not in ("Create", "Update", "Delete")},
        })
    return tools


def bench_tools_list(repeat: int = 5) -> dict[str, Any]:
    from egress.policy.model import McpSection
    from egress.scan.mcp import Exchange, McpInspector, McpPolicy
    from egress.scan.mcp.jsonrpc import classify

    policy = McpPolicy(McpSection.model_validate({}))
    tools = tools_fixture()
    cold: list[float] = []
    warm: list[float] = []
    for r in range(repeat):
        insp = McpInspector()
        ex = Exchange("https://mcp.test/mcp", f"s{r}", "mcp.test", "/mcp")
        for attempt in range(2):
            listing = {"jsonrpc": "2.0", "id": attempt, "method": "tools/list"}
            insp.client_messages(policy, ex, [classify(listing)])
            msg = classify({"jsonrpc": "2.0", "id": attempt, "result": {"tools": tools}})
            t = time.perf_counter()
            decision = insp.server_messages(policy, ex, [msg])[0]
            (cold if attempt == 0 else warm).append(time.perf_counter() - t)
            assert not decision.findings, decision.findings
        policy = McpPolicy(McpSection.model_validate({}))  # a fresh policy: no cached scans
    return {"tools": len(tools), "bytes": len(json.dumps(tools)),
            "first_listing_ms_p50": round(statistics.median(cold) * 1000, 2),
            "repeat_listing_ms_p50": round(statistics.median(warm) * 1000, 2)}


def bench_event_inspection(n: int = 400) -> dict[str, Any]:
    from egress.policy.model import McpSection
    from egress.scan.mcp import Exchange, McpInspector, McpPolicy
    from egress.scan.mcp.jsonrpc import classify, parse
    from egress.scan.mcp.sse import SseDecoder

    policy = McpPolicy(McpSection.model_validate({}))
    insp = McpInspector()
    ex = Exchange("https://mcp.test/mcp", "s", "mcp.test", "/mcp")
    progress: list[float] = []
    results: list[float] = []
    for i in range(n):
        insp.client_messages(policy, ex, [classify({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                                                    "params": {"name": "build"}})])
        for kind, doc in (("progress", {"jsonrpc": "2.0", "method": "notifications/progress", "params": {
                              "progressToken": 1, "progress": i, "message": f"step {i}: compiling module"}}),
                          ("result", {"jsonrpc": "2.0", "id": i, "result": {
                              "content": [{"type": "text", "text": RESULT_TEXT}]}})):
            raw = b"data: " + json.dumps(doc).encode() + b"\n\n"
            t = time.perf_counter()
            for ev in SseDecoder(1 << 20).feed(raw):
                assert ev.data is not None
                insp.server_messages(policy, ex, parse(ev.data).messages)
            (progress if kind == "progress" else results).append(time.perf_counter() - t)
    return {"progress_event_us_p50": round(pct(progress, 0.5) * 1e6, 1),
            "progress_event_us_p95": round(pct(progress, 0.95) * 1e6, 1),
            "result_event_2kb_us_p50": round(pct(results, 0.5) * 1e6, 1),
            "result_event_2kb_us_p95": round(pct(results, 0.95) * 1e6, 1)}


def result_texts_10kb() -> dict[str, str]:
    """Realistic 10 KB tool results: documentation prose, source code, a JSON listing, and a long
    e-mail thread. Built from the running interpreter's standard library, so fixed per version."""
    import email.mime.text
    import inspect
    import json as json_module
    import textwrap

    doc = "\n\n".join(inspect.getdoc(m) or "" for m in (json_module, textwrap, email.mime.text, argparse))
    code = inspect.getsource(textwrap)
    listing = json.dumps([{"name": f"item-{i}", "path": f"src/module_{i}.py", "size": 1000 + i,
                           "description": "A source file of the project, reviewed last week."}
                          for i in range(80)], indent=1)
    mail = "".join(f"> On Monday, Alex wrote:\n> Can you check the build for release {i}? "
                   f"The tests in module {i} failed twice.\nThanks, I re-ran them and they pass now. "
                   "The flaky one is the network test; I opened an issue for it.\n\n" for i in range(60))

    def ten_kb(text: str) -> str:
        return (text * (10240 // max(1, len(text)) + 1))[:10240]
    return {"docs": ten_kb(doc), "code": ten_kb(code), "json": ten_kb(listing), "email": ten_kb(mail)}


def bench_result_scan(n: int = 60) -> dict[str, Any]:
    """In-process cost of the injection scan of one 10 KB tool result, by kind of text: the
    whole scan, and the learned score's share (its windows and model, on the folded view the
    rules already computed)."""
    from egress.scan.injection import InjectionScanner, fold_view

    out: dict[str, Any] = {}
    for level in ("medium", "high"):
        scanner = InjectionScanner(level, "content")
        for kind, text in result_texts_10kb().items():
            times, score_times = [], []
            for i in range(n):
                sample = text[: len(text) - (i % 7)]  # defeat any memoisation of identical text
                t = time.process_time()
                scanner.scan(sample)
                times.append(time.process_time() - t)
                folded = fold_view(sample)
                t = time.process_time()
                scanner.score_folded(folded)
                score_times.append(time.process_time() - t)
            out[f"{level}_{kind}_10kb_ms_p50"] = round(pct(times, 0.5) * 1000, 3)
            out[f"{level}_{kind}_10kb_score_ms_p50"] = round(pct(score_times, 0.5) * 1000, 3)
    return out


def clean_corpus(count: int = 300) -> list[str]:
    """`count` clean tool results spread evenly over every split of the injection evaluation and
    of mcp-eval (committed data: the same texts on every machine)."""
    import gzip

    texts: list[str] = []
    for split in sorted((REPO / "tests" / "data").glob("*-eval/*/clean-results.jsonl.gz")):
        with gzip.open(split, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    step = max(1, len(texts) // count)
    return texts[::step][:count]


def large_texts(size: int = 100 * 1024) -> dict[str, str]:
    """100 KB of the running interpreter's standard-library source, and of its docstrings."""
    import ast
    import sysconfig

    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:200]
    sources = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    docs = [doc for source in sources for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and (doc := ast.get_docstring(node))]
    return {"source": "".join(sources)[:size], "docs": "\n\n".join(docs)[:size]}


def bench_clean_scan(level: str = "medium", count: int = 300) -> dict[str, Any]:
    """Process CPU of the whole injection scan on clean tool results (issue 12's budget is per
    10 KB): per text, normalised to 10 KB (p50, p95), the corpus total per 10 KB, and whole
    100 KB texts."""
    from egress.scan.injection import InjectionScanner

    scanner = InjectionScanner(level, "content")  # type: ignore[arg-type]
    scanner.scan("warm up: compile the rules and load the weights")
    texts = clean_corpus(count)
    per_10kb, total = [], 0.0
    for text in texts:
        t = time.process_time()
        scanner.scan(text)
        spent = time.process_time() - t
        total += spent
        per_10kb.append(spent * 10240 / max(1, len(text)))
    chars = sum(map(len, texts))
    out: dict[str, Any] = {"level": level, "texts": len(texts), "kb": round(chars / 1024, 1),
                           "per_text_ms_per_10kb_p50": round(pct(per_10kb, 0.5) * 1000, 3),
                           "per_text_ms_per_10kb_p95": round(pct(per_10kb, 0.95) * 1000, 3),
                           "corpus_ms_per_10kb": round(total * 10240 / chars * 1000, 3)}
    for kind, text in large_texts().items():
        t = time.process_time()
        scanner.scan(text)
        out[f"{kind}_100kb_ms"] = round((time.process_time() - t) * 1000, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=150)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--first-event-requests", type=int, default=60)
    parser.add_argument("--skip-proxy", action="store_true", help="only the in-process figures")
    parser.add_argument("--scan-only", action="store_true",
                        help="only the injection scan's CPU on clean results and large texts")
    parser.add_argument("--serve-plain", nargs=2, metavar=("CONFDIR", "TRUST"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_plain:
        confdir, trust = args.serve_plain
        serve_plain(confdir, trust, [StreamEventStreams()])
        return 0
    out: dict[str, Any] = {"benchmark": "mcp_overhead", "python": sys.version.split()[0],
                           "cpus": os.cpu_count()}
    if args.scan_only:
        out["clean_scan"] = bench_clean_scan()
        print(json.dumps(out, indent=2))
        return 0
    out["tools_list"] = bench_tools_list()
    out["event_inspection"] = bench_event_inspection()
    out["result_scan"] = bench_result_scan()
    out["clean_scan"] = bench_clean_scan()
    if not args.skip_proxy:
        out["sse"] = bench_sse(args.events, args.runs, args.interval_ms / 1000, args.first_event_requests)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
