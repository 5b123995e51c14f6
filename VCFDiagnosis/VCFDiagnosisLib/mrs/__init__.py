"""mrs subpackage."""
