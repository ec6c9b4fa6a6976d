"""`vstream bench`: measurements against baselines, in one run, as ratios."""
