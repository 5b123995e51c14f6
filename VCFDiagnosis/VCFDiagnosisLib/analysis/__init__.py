"""One case from arrays (pure core, no ``slicer``): the settings model, ROI geometry and statistics, the
study's logistic models, results-table rows and the one-page report.

Modules: :mod:`.settings` (every user option, defined once), :mod:`.case_analysis` (DWI + ROI + spectrum
to one results row), :mod:`.roi_geometry`, :mod:`.study_models` (Tan et al. 2019 coefficients and notes),
:mod:`.results` (results columns and TSV), :mod:`.report` (report.png/pdf).
"""
