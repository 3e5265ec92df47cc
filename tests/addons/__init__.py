"""Unit tests of each mitmproxy addon, driven through mitmproxy's taddons/tflow helpers."""
