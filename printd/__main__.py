from printd.cli import main

raise SystemExit(main())
