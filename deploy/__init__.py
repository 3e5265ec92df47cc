"""Deployment targets other than the Docker launcher: Kubernetes manifests (`bottle k8s render`).

Pure data in, YAML out: nothing here imports mitmproxy, Docker or a Kubernetes client, so the
renderer runs (and is tested) where no cluster exists.
"""
