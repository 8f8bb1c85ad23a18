"""Support code for microgradx's tests (throwaway plugin distributions, subprocess runners)."""
