"""Flow glue the addons share (verdicts on flows, fail closed, streams); not addons, imports none."""
