"""Every option of a case analysis, defined once (pure core, standard library only, so ``--help`` stays fast).

:class:`CaseSettings` is the one definition: each field carries a :class:`Setting` (label, help text, unit,
choices or range, command-line flag, panel group). Every front end is derived from it, so adding an option is
one field here:

* the ``run``, ``batch`` and ``fit`` commands: :func:`add_setting_arguments` and :func:`settings_from_args`;
* the Slicer panel: :func:`setting_specs` gives the parameter node's typed fields and the options form that
  ``VCFDiagnosis.py`` builds with Slicer's parameterNodeWrapper (no option is named in that file or the .ui);
* the Logic (``processCase(..., settings=...)``), the batch runner (settings travel to the workers and into
  every ``case.json``) and the case analysis (:mod:`.case_analysis`);
* any other client (e.g. a web front end) as JSON: :func:`settings_schema`.

Units are in the field names (``_s_mm2``, ``_ms``, ``_mm``) and in :attr:`Setting.unit`.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import InputError
from ..fat.options import FAT_SOURCES, PDFF_MAP_UNITS
from ..ivim.options import DEFAULT_B_THRESHOLD_S_MM2, DEFAULT_BACKGROUND_FRACTION, DEFAULT_METHOD, METHODS

#: ``maps``: where voxelwise IVIM maps are computed.
MAP_SCOPES: dict[str, str] = {
    "roi": "voxelwise maps inside the ROIs (fast)",
    "volume": "voxelwise maps of the whole volume (progress and cancel)",
    "none": "no maps: the ROI-mean signal is fitted only",
}
#: ``model_inputs``: which D, D*, f the study's logistic models receive.
MODEL_INPUTS: dict[str, str] = {
    "roi_mean_fit": "fit of the ROI-mean signal (default)",
    "map_mean": "mean of the voxelwise maps in the ROI (as the study read maps)",
    "map_median": "median of the voxelwise maps in the ROI",
}
#: Panel groups, in the order the panel shows them.
GROUPS: dict[str, str] = {"fit": "IVIM fit", "outputs": "Outputs", "advanced": "Advanced"}


@dataclass(frozen=True)
class Setting:
    """What a front end needs to show one option: label, help, unit, allowed values, flag, group.

    ``choices`` maps each allowed value to a one-line description; ``minimum``/``maximum`` bound a number
    (inclusive); ``decimals``/``step`` shape its spin box; ``flag`` is the command-line option (for a bool
    that defaults to True, the flag that turns it off, e.g. ``--no-report``); ``panel`` False keeps an option
    that only concerns files written by the commands (the report) off the Slicer panel. ``reader`` makes a text
    setting a file: a non-empty value becomes an absolute path (worker processes may run elsewhere) and is read
    by the function ``"module:function"`` (relative to this package), which raises InputError for a bad file,
    when the settings are made: a bad file is refused before any case is loaded.
    """

    label: str
    help: str
    unit: str = ""
    choices: dict[str, str] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None
    decimals: int = 2
    step: float = 1.0
    flag: str = ""
    group: str = "fit"
    panel: bool = True
    reader: str = ""


def setting(default: Any, **metadata: Any):
    """Return a dataclass field with ``default`` whose :class:`Setting` is built from ``metadata``."""
    return field(default=default, metadata={"setting": Setting(**metadata)})


@dataclass(frozen=True)
class CaseSettings:
    """The options of one case analysis (``run``, ``batch``, the panel's Apply, ``processCase``).

    Construction validates every value (choices, finite numbers within range) and raises :class:`InputError`
    naming the option's flag, so a bad value from any front end gets the same one-line message.
    """

    method: str = setting(
        DEFAULT_METHOD, label="IVIM fit method", choices=METHODS,
        help="voxelwise and ROI-mean IVIM fit method")
    b_threshold_s_mm2: float = setting(
        DEFAULT_B_THRESHOLD_S_MM2, label="b threshold", unit="s/mm2", minimum=1.0, maximum=1000.0, decimals=0,
        step=10.0, flag="--b-threshold",
        help="segmented fit: D from the b-values at or above this, where perfusion has decayed")
    background_fraction: float = setting(
        DEFAULT_BACKGROUND_FRACTION, label="Background threshold", unit="fraction", minimum=0.0, maximum=0.99,
        decimals=3, step=0.01,
        help="voxels whose mean signal is below this fraction of the bright foreground are background, not fitted")
    maps: str = setting(
        "roi", label="Compute maps for", choices=MAP_SCOPES, group="outputs",
        help="where voxelwise D, D*, f, ADC maps are computed")
    model_inputs: str = setting(
        "roi_mean_fit", label="Model inputs", choices=MODEL_INPUTS,
        help="the D, D*, f fed to the study's logistic models")
    water_t2_ms: float = setting(
        0.0, label="Water T2 (optional)", unit="ms", minimum=0.0, maximum=500.0, decimals=1, step=1.0,
        group="advanced", help="water T2 for a T2-corrected PDFF (0 = not used; model-dependent)")
    fat_t2_ms: float = setting(
        0.0, label="Fat T2 (optional)", unit="ms", minimum=0.0, maximum=500.0, decimals=1, step=1.0,
        group="advanced", help="fat T2 for a T2-corrected PDFF (0 = not used)")
    fat_source: str = setting(
        "auto", label="Water-fat source", choices=FAT_SOURCES, group="advanced",
        help="with a water-fat input (--fat): where the PDFF and R2* maps come from")
    pdff_map_unit: str = setting(
        "auto", label="Scanner PDFF map unit", choices=PDFF_MAP_UNITS, group="advanced",
        help="the unit of a scanner's PDFF map after its rescale, when its values cannot tell")
    fat_phase: bool = setting(
        True, label="Use phase images", flag="--no-fat-phase", group="advanced",
        help="fit magnitude and phase (the mixed fit, with a field map) when the water-fat series has phase images; "
             "off: magnitude only")
    min_roi_voxels: int = setting(
        4, label="Smallest ROI", unit="voxels", minimum=1, maximum=100000, decimals=0, group="advanced",
        help="an ROI with fewer voxels on the DWI grid is an error row")
    mrs_max_distance_mm: float = setting(
        10.0, label="MRS voxel distance limit", unit="mm", minimum=0.0, maximum=200.0, decimals=1,
        group="advanced", help="warn when the MRS voxel centre is farther than this from the ROI")
    mrs_min_roi_fraction: float = setting(
        0.25, label="MRS voxel ROI overlap", unit="fraction", minimum=0.0, maximum=1.0, decimals=2, step=0.05,
        group="advanced", help="warn when less than this fraction of the ROI lies inside the MRS voxel")
    model: str = setting(
        "", label="Site model file", group="advanced", flag="--model", reader=".site_models:load_site_models",
        help="a site model (.json written by vcfdiagnosis cohort --export-model) used instead of the published "
             "Tan et al. 2019 models; empty: the published models")
    report: bool = setting(
        True, label="Report", flag="--no-report", group="outputs", panel=False,
        help="write the one-page PNG/PDF report of each case")
    dicom: bool = setting(
        False, label="DICOM results", flag="--dicom", group="outputs", panel=False,
        help="also write each case's results as DICOM into its dicom/ folder (Parametric Maps, SEG, TID 1500 SR, "
             "report PDF; needs a DICOM DWI)")

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, checked_value(f, getattr(self, f.name)))

    def replace(self, **changes: Any) -> CaseSettings:
        """Return a copy with ``changes`` applied (validated like a new instance)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{name: value}`` (plain JSON types), as written into ``case.json``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CaseSettings:
        """Return settings from ``{name: value}``; unknown names raise InputError (a typo is not ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(None, f"unknown setting {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**values)

    @classmethod
    def from_object(cls, source: Any) -> CaseSettings:
        """Return settings read attribute by attribute from ``source`` (e.g. the panel's parameter node); a
        setting the source does not hold (one the panel does not show, such as ``report``) keeps its default."""
        return cls(**{f.name: getattr(source, f.name) for f in fields(cls) if hasattr(source, f.name)})


def range_text(spec: Setting | SettingSpec, unit: str = "", dash: str = "-") -> str:
    """Return the allowed range as text: '1-1000', '>= 0' or '<= 10' (with ``unit`` after each number)."""
    if spec.minimum is not None and spec.maximum is not None:
        return f"{spec.minimum:g}{dash}{spec.maximum:g}{unit}"
    if spec.minimum is not None:
        return f">= {spec.minimum:g}{unit}"
    return f"<= {spec.maximum:g}{unit}" if spec.maximum is not None else "any number"


def setting_of(f: dataclasses.Field) -> Setting:
    """Return the :class:`Setting` of a settings field."""
    return f.metadata["setting"]


def flag_of(f: dataclasses.Field) -> str:
    """Return the command-line flag of a settings field (``--`` + the name with dashes, unless given)."""
    return setting_of(f).flag or "--" + f.name.replace("_", "-")


def value_type(f: dataclasses.Field) -> type:
    """Return the Python type of a settings field's values (from its default: bool, int, float or str)."""
    return type(f.default)


def checked_value(f: dataclasses.Field, value: Any) -> Any:
    """Return ``value`` converted to the field's type; raise InputError naming the flag if it is not allowed."""
    spec, kind, flag = setting_of(f), value_type(f), flag_of(f)
    unit = f" {spec.unit}" if spec.unit and spec.unit != "fraction" else ""
    if kind is bool:
        if not isinstance(value, bool):
            raise InputError(flag, f"must be true or false, not {value!r}")
        return value
    if kind is str:
        value = str(value)
        if spec.choices and value not in spec.choices:
            raise InputError(flag, f"'{value}' is not one of {', '.join(spec.choices)}")
        return _read_file(spec, value) if spec.reader and value else value
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if kind is int:
            if number != int(number):
                raise ValueError
            number = int(number)
    except (TypeError, ValueError, OverflowError):
        raise InputError(flag, f"must be {'a whole number' if kind is int else 'a number'}, not {value!r}") from None
    if not math.isfinite(number):
        raise InputError(flag, f"must be a finite number, not {value!r}")
    if (spec.minimum is not None and number < spec.minimum) or (spec.maximum is not None and number > spec.maximum):
        raise InputError(flag, f"{number:g}{unit} is outside {range_text(spec, unit)}")
    return number


def _read_file(spec: Setting, value: str) -> str:
    """Return the absolute path of a file setting after its reader accepted the file (InputError otherwise)."""
    module, function = spec.reader.split(":")
    path = os.path.abspath(value)
    getattr(importlib.import_module(module, __package__), function)(path)
    return path


def setting_fields(settings_class: type | None = None) -> tuple[dataclasses.Field, ...]:
    """Return the fields of a settings class (default :class:`CaseSettings`; each carries a :class:`Setting`)."""
    return fields(settings_class or CaseSettings)


def add_setting_arguments(parser, settings_class: type | None = None, names: tuple[str, ...] | None = None):
    """Add one command-line option per setting (or per name in ``names``) to ``parser``; return the group.

    Flags, defaults, choices, units and help all come from the settings fields. The values are validated when
    :func:`settings_from_args` builds the settings.
    """
    group = parser.add_argument_group("analysis settings")
    for f in setting_fields(settings_class):
        if names is not None and f.name not in names:
            continue
        spec, kind = setting_of(f), value_type(f)
        if kind is bool:
            group.add_argument(flag_of(f), dest=f.name, action="store_false" if f.default else "store_true",
                               help=spec.help if not f.default else f"do not {spec.help[0].lower()}{spec.help[1:]}")
            continue
        unit = f" ({spec.unit})" if spec.unit else ""
        help_text = f"{spec.help}{unit}; default {f.default}"
        if spec.choices:
            help_text += ". " + "; ".join(f"{k}: {v}" for k, v in spec.choices.items())
        elif spec.minimum is not None or spec.maximum is not None:
            help_text += f", {range_text(spec)}"
        metavar = None if spec.choices else (spec.unit or ("N" if kind is int else "X")).upper().replace("/", "_")
        group.add_argument(flag_of(f), dest=f.name, default=f.default, choices=list(spec.choices) or None,
                           type=str if kind is str else float if kind is float else int, metavar=metavar,
                           help=help_text.replace("%", "%%"))
    return group


def settings_from_args(args, settings_class: type | None = None, base: CaseSettings | None = None) -> CaseSettings:
    """Return the settings given on the command line (options not offered by the command keep ``base``'s)."""
    base = base or (settings_class or CaseSettings)()
    return base.replace(**{f.name: getattr(args, f.name) for f in setting_fields(settings_class)
                           if hasattr(args, f.name)})


@dataclass(frozen=True)
class SettingSpec:
    """One setting as a user interface shows it (the panel, a web front end): plain values only."""

    name: str
    type: str  # "bool", "int", "float", "str"
    default: Any
    label: str
    help: str
    unit: str
    choices: tuple[str, ...]
    choice_help: tuple[str, ...]
    minimum: float | None
    maximum: float | None
    decimals: int
    step: float
    group: str
    flag: str
    reader: str

    @property
    def tooltip(self) -> str:
        """Return the help text with the unit and each choice's description, for a tooltip."""
        text = self.help[0].upper() + self.help[1:] + (f" ({self.unit})." if self.unit else ".")
        return text + "".join(f"\n{c}: {h}" for c, h in zip(self.choices, self.choice_help))


def setting_specs(settings_class: type | None = None, panel_only: bool = False) -> list[SettingSpec]:
    """Return every setting as a :class:`SettingSpec`, in panel order (group, then definition order)."""
    specs = []
    for f in setting_fields(settings_class):
        spec = setting_of(f)
        if panel_only and not spec.panel:
            continue
        specs.append(SettingSpec(
            name=f.name, type=value_type(f).__name__, default=f.default, label=spec.label, help=spec.help,
            unit=spec.unit, choices=tuple(spec.choices), choice_help=tuple(spec.choices.values()),
            minimum=spec.minimum, maximum=spec.maximum, decimals=spec.decimals, step=spec.step, group=spec.group,
            flag=flag_of(f), reader=spec.reader))
    order = list(GROUPS)
    return sorted(specs, key=lambda s: order.index(s.group))


def settings_schema(settings_class: type | None = None) -> list[dict[str, Any]]:
    """Return the settings as JSON-ready dicts (for a web front end or any other client)."""
    return [dataclasses.asdict(spec) for spec in setting_specs(settings_class)]


def settings_markdown_table(settings_class: type | None = None) -> str:
    """Return the settings as a Markdown table (the README's *Settings* section is this table)."""
    lines = ["| setting | flag | unit | default | allowed | meaning |", "|---|---|---|---|---|---|"]
    for spec in setting_specs(settings_class):
        allowed = (", ".join(spec.choices) if spec.choices else "true/false" if spec.type == "bool"
                   else "a file" if spec.reader else "text" if spec.type == "str" else range_text(spec, dash="–"))
        lines.append(f"| `{spec.name}` | `{spec.flag}` | {spec.unit} | {spec.default} | {allowed} | {spec.help} |")
    return "\n".join(lines)
