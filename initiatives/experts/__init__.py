"""Expert profiles: what reviewers know, their publications, their conflicts."""
