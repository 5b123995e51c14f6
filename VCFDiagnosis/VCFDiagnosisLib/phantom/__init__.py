"""phantom subpackage."""
