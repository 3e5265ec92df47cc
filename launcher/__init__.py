"""Docker wiring for bottles (`bottle start --inspect`). Never inspects traffic itself."""
