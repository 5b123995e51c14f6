"""The phantom generator's user-facing choices (standard library only, so the ``phantom`` command's help is fast).

:data:`VENDORS` are the DICOM b-value tag styles the generator writes; :data:`DEFAULT_BVALUES` (s/mm2) the
study's protocol; :data:`GROUPS` the study's lesion groups (Table 3 distributions).
"""

from ..analysis.study_models import LABELS

#: DICOM b-value tag styles: Siemens CSA, GE private (with its 1e9 bias), Philips private, standard tags.
VENDORS = ("siemens", "ge", "philips", "standard")
#: The study's b-values, s/mm2.
DEFAULT_BVALUES = (0, 50, 100, 150, 200, 400, 600, 800)
#: Lesion groups, in the study's order.
GROUPS = LABELS
