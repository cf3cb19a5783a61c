from sentinel.cli.entry import main

raise SystemExit(main())
