"""Marrow fat from chemical-shift-encoded (multi-echo gradient-echo) imaging: PDFF and R2* (pure core, numpy).

:mod:`.model` is the signal model (the multi-peak fat spectrum of :mod:`VCFDiagnosisLib.mrs.model`, one source of
truth with the spectroscopy engine); :mod:`.fit` fits it to magnitude echoes, voxelwise and vectorised.
"""
