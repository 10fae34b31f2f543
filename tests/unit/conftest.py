"""Hypothesis profiles for the unit tests: "ci" is quick and deterministic enough for CI, "dev" digs deeper."""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
