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
