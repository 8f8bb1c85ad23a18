"""The compiler: record a step's graph once, batch nodes that do the same thing, replay it on arrays."""
