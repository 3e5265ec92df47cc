"""Policy: schema (`model`), loading with line-numbered errors (`loader`, `problems`), compiled
form (`compiled`) and the hot-reloading holder a running proxy reads (`store`). Import the
submodules: this package body is empty so that importing one of them runs nothing else."""
