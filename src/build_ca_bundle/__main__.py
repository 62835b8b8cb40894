from build_ca_bundle.cli import main

raise SystemExit(main())
