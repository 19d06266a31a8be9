"""Figures and the HTML report. Rendering only: nothing here trains or measures."""
