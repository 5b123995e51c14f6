"""dwi subpackage."""
