"""The per-bottle certificate authority: born with the bottle, hours-long, destroyed at stop."""

from ca.bottle_ca import BottleCA, CAFiles
from ca.bundle import system_roots_pem

__all__ = ["BottleCA", "CAFiles", "system_roots_pem"]
