"""The DLP prefilter: one pass over a text says which rules can match; hyperscan or pyahocorasick."""
