"""Checks no peer makes: whole-file data quality beyond the per-row validation.

One module per check family: :mod:`references` (IDs that must exist in the other data types'
last imports), :mod:`cycles` (parent and manager chains that loop), :mod:`overlaps` (one
person's overlapping work periods), :mod:`national_ids` (checksums and birth dates by
python-stdnum), :mod:`freshness` (the same file again, a file too old); :mod:`kept` is what a
completed run keeps for the next runs' checks, :mod:`settings` reads the ``checks`` parameter,
:mod:`checks` runs the row checks, :mod:`steps` are the sequence's steps and :mod:`report` writes
the admin task's "Data quality" section.
"""
