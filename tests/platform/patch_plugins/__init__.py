"""Three releases of one plugin with a table of its own, to test the patch log:
v1 declares `_ratings(id, score)`; v2 adds a `note` column (its table's latest shape)
and two patches; v3 adds a patch that fails."""
