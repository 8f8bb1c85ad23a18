"""Batching rules (work in progress)."""

dot_rule = None
sum_rule = None
