"""Entry points (layer 3): :mod:`.cli` is the ``vcfdiagnosis`` command; :mod:`.commands` holds one
module per sub-command, each importing its engines only when it runs."""
