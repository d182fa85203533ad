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

import os  # (``sys`` and ``os`` are loaded with the interpreter: nothing was imported yet)


def _safe_path() -> list[str]:
    """``sys.path`` without the places a file in the working directory could run from.

    Python puts the script's own folder first on the module path, and the vendor installs this
    script into ``custom-provisioning-scripts/``, which is also the working directory: a planted
    ``polars.py`` or ``hr_connector/`` there would run as ours. So before anything of ours or of
    our dependencies is imported, the module path loses ``''``, every relative entry, the current
    directory, the working directory (``--workdir``, ``HR_CONNECTOR_WORKDIR``) and this script's
    folder; the bundle's own ``hr_connector_lib/`` is then put first, by its full path.
    """
    args = sys.argv[1:]
    named = [a.split("=", 1)[1] for a in args if a.startswith("--workdir=")]
    named += [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--workdir"]
    here = os.path.dirname(os.path.realpath(__file__))
    places = [here, os.environ.get("HR_CONNECTOR_WORKDIR") or "", *named]
    try:  # noqa: SIM105 - contextlib is not imported before the module path is safe
        places.append(os.getcwd())
    except OSError:  # the current directory is gone: the run says so later
        pass
    unsafe = {os.path.realpath(p) for p in places if p}
    kept = [p for p in sys.path if os.path.isabs(p) and os.path.realpath(p) not in unsafe]
    bundled = os.path.join(here, "hr_connector_lib")
    if os.path.isdir(bundled):  # a bundle: its own copy of the connector and dependencies wins
        kept.insert(0, bundled)
    return kept


sys.path[:] = _safe_path()

try:
    from hr_connector.epe import main
except ImportError as exc:  # neither the bundle's folder beside it nor an installed package
    here = os.path.dirname(os.path.realpath(__file__))
    sys.stderr.write(
        f"IGAConnector.py: its library is missing ({exc}): copy the bundle's folder "
        f"hr_connector_lib/ into {here}/ beside it, or copy the one-file "
        f"IGAConnector.py of 'hr-connector bundle --one-file' instead\n"
    )
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(main())
