from esm_sandbox.cli import main

raise SystemExit(main())
