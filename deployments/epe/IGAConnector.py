#!/usr/bin/env python3
"""HR connector for the EPE (Connector management) Generic Python Script task.

Drop-in replacement of the vendor's IGAConnector.py. Install it as a bundle (``hr-connector
bundle DIR``): this file plus ``hr_connector_lib/`` beside it, the connector and its dependencies
for the worker's Python; copy the folder into the engine's
``custom-provisioning-scripts/only_scheduled/`` and ``chmod 755 IGAConnector.py``. Or copy one
file: ``hr-connector bundle --one-file DIR`` writes an ``IGAConnector.py`` that carries all of it.
Without the folder beside it, the connector is the ``hr-connector`` package installed into the
Python that runs this script. Python 3.11 or newer.

Input: the connector parameters as JSON on stdin line 1 (line 2: task mappings, optional), or
``--params FILE``. Exit 0 = import completed (last stdout line: the output file's path),
1 = interrupted (see the IGA admin task), 2 = unusable invocation.
"""

import sys

if sys.version_info < (3, 11):  # noqa: UP036 - the engine may run an older Python
    sys.stderr.write("IGAConnector.py: Python 3.11 or newer is required\n")
    sys.exit(2)

import os

_BUNDLED = os.path.join(os.path.dirname(os.path.realpath(__file__)), "hr_connector_lib")
if os.path.isdir(_BUNDLED):  # a bundle: its own copy of the connector and dependencies wins
    sys.path.insert(0, _BUNDLED)

try:
    from hr_connector.epe import main
except ImportError as exc:  # neither the bundle's folder beside it nor an installed package
    sys.stderr.write(
        f"IGAConnector.py: its library is missing ({exc}): copy the bundle's folder "
        f"hr_connector_lib/ into {os.path.dirname(_BUNDLED)}/ beside it, or copy the one-file "
        f"IGAConnector.py of 'hr-connector bundle --one-file' instead\n"
    )
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(main())
