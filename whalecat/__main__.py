from whalecat.cli import main

raise SystemExit(main())
