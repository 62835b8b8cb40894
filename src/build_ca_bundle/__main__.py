from build_ca_bundle.entry import main

raise SystemExit(main())
