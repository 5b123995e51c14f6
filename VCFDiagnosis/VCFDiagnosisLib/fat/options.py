"""The water-fat choices a user makes (standard library only, so the settings model and ``--help`` stay fast)."""

#: ``fat_source`` setting: where PDFF and R2* come from.
FAT_SOURCES = {
    "auto": "the scanner's PDFF map when the folder has one, else a fit of the echoes",
    "fit": "fit the multi-echo images (magnitude, multi-peak fat, one R2*)",
    "vendor": "the scanner's PDFF and R2*/T2* maps",
}
#: ``pdff_map_unit`` setting: the unit of a scanner PDFF map (after its rescale), when its values cannot tell.
PDFF_MAP_UNITS = {
    "auto": "from the manufacturer and the map's values; ambiguous maps are refused",
    "percent": "0-100",
    "permille": "0-1000 (GE and Siemens maps)",
    "fraction": "0-1",
}

#: The settings that decide how a water-fat folder is read, in the order of ``fat.source.read_fat_input``'s arguments.
FAT_SETTINGS = ("fat_source", "pdff_map_unit", "fat_phase")


def fat_read_options(settings) -> tuple:
    """Return the :data:`FAT_SETTINGS` values of a ``CaseSettings``: ``read_fat_input(path, *fat_read_options(s))``
    (equal tuples: the folder reads the same)."""
    return tuple(getattr(settings, name) for name in FAT_SETTINGS)
