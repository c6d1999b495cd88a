from joyvasa.evaluate.cli import main

raise SystemExit(main())
