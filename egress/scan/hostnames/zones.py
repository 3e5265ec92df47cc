"""Large provider zones: registered domains whose names only the provider's own DNS sees.

Cloud APIs, CDNs and package registries put hundreds of service, region and edge names
under one registered domain (`amazonaws.com` alone has thousands of endpoints), and an
agent may use many of them in minutes. Nobody but the provider answers lookups under these
zones: customer-controlled parts (buckets, distributions, apps) sit under the Public Suffix
List's private section (`s3.amazonaws.com`, `cloudfront.net`, `herokuapp.com`, ...) and are
budgeted per customer as ordinary zones. So these zones get a budget `provider_factor`
times larger (`hostnames.budget.provider_factor`); the single-name score still applies to
every name under them, and `hostnames.exceptions` still works for anything else.

The list is curated by hand: the largest public clouds' API and identity zones, the major
CDNs' edge zones and the package registries and code hosts agents fetch from. A zone
belongs here only when (1) it is one organisation's, (2) customers cannot name hosts in it
outside a private-section suffix, and (3) real clients use many distinct names under it.
"""

from __future__ import annotations

PROVIDER_ZONES: frozenset[str] = frozenset({
    # Amazon Web Services
    "amazonaws.com", "amazonaws.com.cn", "api.aws", "aws.dev", "amazon.com",
    "awsstatic.com", "amazontrust.com", "cloudfront.net", "awsglobalaccelerator.com",
    # Google Cloud and Google APIs
    "googleapis.com", "gstatic.com", "google.com", "googleusercontent.com", "googlevideo.com",
    "gcr.io", "pkg.dev", "withgoogle.com", "googlesource.com", "cloudfunctions.net", "run.app",
    "ggpht.com", "1e100.net",
    # Microsoft Azure, identity and Office
    "azure.com", "azure.net", "windows.net", "microsoft.com", "microsoftonline.com",
    "azure-api.net", "azureedge.net", "azurefd.net", "azurecr.io", "azure-automation.net",
    "msedge.net", "trafficmanager.net", "visualstudio.com", "msauth.net", "msftauth.net",
    "live.com", "office.com", "office.net", "office365.com", "sharepoint.com",
    "chinacloudapi.cn", "usgovcloudapi.net", "microsoftazure.de",
    "azure.us", "azure.cn",
    # Other clouds' API zones
    "oraclecloud.com", "aliyuncs.com", "alibabacloud.com",
    "tencentcloudapi.com", "myhuaweicloud.com", "ibm.com", "appdomain.cloud",
    "digitaloceanspaces.com", "linode.com", "hetzner.cloud", "scw.cloud", "ovh.net",
    "cloudflare.com", "cloudflare.net", "cloudflarestorage.com",
    # CDNs
    "akamai.net", "akamaiedge.net", "akamaihd.net", "akamaized.net", "akamaitechnologies.com",
    "edgekey.net", "edgesuite.net", "akadns.net", "fastly.net", "fastlylb.net", "edgecastcdn.net",
    "llnwd.net", "cdn77.org", "jsdelivr.net", "unpkg.com", "cdnjs.com",
    # Package registries and code hosts
    "github.com", "githubusercontent.com", "githubassets.com", "ghcr.io", "gitlab.com",
    "docker.io", "docker.com", "quay.io", "npmjs.org", "npmjs.com", "yarnpkg.com",
    "pypi.org", "pythonhosted.org", "python.org", "crates.io", "rust-lang.org", "golang.org",
    "go.dev", "rubygems.org", "maven.org", "gradle.org", "nuget.org", "debian.org",
    "ubuntu.com", "fedoraproject.org", "alpinelinux.org", "anaconda.org", "conda.io",
    "huggingface.co", "hf.co",
})


def provider_zone(registered: str) -> bool:
    """True when `registered` (a registered domain, lower case) is a large provider zone or a
    registered domain under one (the PSL lists some provider zones, e.g. `googleapis.com`, in
    its private section, which makes each of their service names a registered domain)."""
    if registered in PROVIDER_ZONES:
        return True
    dot = registered.find(".")
    while dot != -1:
        if registered[dot + 1:] in PROVIDER_ZONES:
            return True
        dot = registered.find(".", dot + 1)
    return False
