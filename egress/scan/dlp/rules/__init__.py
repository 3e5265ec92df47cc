"""The DLP rules: the catalogue as data, one rule and the gates a value must pass (structural
validators, entropy, code-or-secret literals), and `dlp.suppress` entries."""
