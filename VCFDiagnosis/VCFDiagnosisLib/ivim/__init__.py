"""ivim subpackage."""
