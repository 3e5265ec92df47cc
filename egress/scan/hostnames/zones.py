"""Large provider zones: registered domains whose names only the provider's own DNS sees.

Cloud APIs, CDNs and package registries put hundreds of service, region and edge names
under one registered domain (`amazonaws.com` alone has thousands of endpoints), and an
agent may use many of them in minutes. Nobody but the provider answers lookups under these
zones: customer-controlled parts (buckets, distributions, apps, CDN properties) sit under the
Public Suffix List's private section (`s3.amazonaws.com`, `cloudfront.net`, `herokuapp.com`,
`akamaized.net`, ...) and are budgeted per customer as ordinary zones, so such suffixes are
not listed here. So these zones get a budget `provider_factor`
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
    "amazonaws.com", "amazonaws.com.cn", "api.aws", "aws.dev", "amazon.com", "awsstatic.com",
    "amazontrust.com",
    # Google Cloud and Google APIs (googleapis.com itself: PROVIDER_OWN_SUFFIXES)
    "gstatic.com", "google.com", "googleusercontent.com", "googlevideo.com", "gcr.io",
    "pkg.dev", "googlesource.com", "ggpht.com", "1e100.net",
    # Microsoft Azure, identity and Office
    "azure.com", "azure.net", "windows.net", "microsoft.com", "microsoftonline.com",
    "azurecr.io", "azure-automation.net", "msedge.net", "visualstudio.com", "msauth.net",
    "msftauth.net", "live.com", "office.com", "office.net", "office365.com", "sharepoint.com",
    "chinacloudapi.cn", "usgovcloudapi.net", "microsoftazure.de", "azure.us", "azure.cn",
    # Other clouds' API zones
    "oraclecloud.com", "aliyuncs.com", "alibabacloud.com", "tencentcloudapi.com",
    "myhuaweicloud.com", "ibm.com", "appdomain.cloud", "linode.com", "hetzner.cloud",
    "scw.cloud", "ovh.net", "cloudflare.com", "cloudflarestorage.com",
    # CDNs (edge zones whose children are customers' are private-section suffixes: not here)
    "akamaitechnologies.com", "fastly.net", "edgecastcdn.net", "llnwd.net", "cdn77.org",
    "jsdelivr.net", "unpkg.com", "cdnjs.com",
    # Package registries and code hosts
    "github.com", "githubassets.com", "ghcr.io", "gitlab.com", "docker.io", "docker.com",
    "quay.io", "npmjs.org", "npmjs.com", "yarnpkg.com", "pypi.org", "pythonhosted.org",
    "python.org", "crates.io", "rust-lang.org", "golang.org", "go.dev", "rubygems.org",
    "maven.org", "gradle.org", "nuget.org", "debian.org", "ubuntu.com", "fedoraproject.org",
    "alpinelinux.org", "anaconda.org", "conda.io", "huggingface.co", "hf.co",
})


# PSL private-section suffixes whose registered domains are the provider's own services, not
# customers' (`spanner.googleapis.com`, `rep.googleapis.com`): they count as provider zones.
PROVIDER_OWN_SUFFIXES: frozenset[str] = frozenset({"googleapis.com"})


def provider_zone(registered: str) -> bool:
    """True when `registered` (a registered domain, lower case) is a large provider zone.

    A registered domain under any other private-section suffix is a customer's
    (`d111.cloudfront.net`, `app.herokuapp.com`): an ordinary zone with its own budget."""
    if registered in PROVIDER_ZONES:
        return True
    dot = registered.find(".")
    return dot != -1 and registered[dot + 1:] in PROVIDER_OWN_SUFFIXES
