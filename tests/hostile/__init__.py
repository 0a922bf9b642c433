"""Hostile-input tests: regressions for every robustness defect found by audits, and fuzzing of every parser."""
