"""Writing results safely (pure core): :mod:`.atomic` (write to a temporary sibling, then rename) and
:mod:`.safe_paths` (case folders named injectively from any case id, never outside the output folder)."""
