"""Drill reviews: automatic score beside evaluators' overrides, the review meeting, the rectification list."""
