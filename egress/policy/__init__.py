"""Policy: schema (`model`), loading with line-numbered errors (`loader`), compiled form
(`compiled`) and the hot-reloading holder a running proxy reads (`store`)."""

from egress.policy.compiled import CompiledPolicy, compile_policy, default_policy_path
from egress.policy.loader import PolicyError, Problem, load_policy, parse_policy
from egress.policy.model import Policy

__all__ = [
    "CompiledPolicy",
    "Policy",
    "PolicyError",
    "Problem",
    "compile_policy",
    "default_policy_path",
    "load_policy",
    "parse_policy",
]
