from joyvasa.quality.cli import main

raise SystemExit(main())
